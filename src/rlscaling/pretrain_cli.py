"""`rlscaling pretrain`: pre-train one size of the tiny model family (rlscaling.pretrain).

With the workflow's evaluation plan ($RLSCALING_EVALUATE_AFTER), the job then evaluates the base model
(step 0) in the same process, for the evaluate job to copy (rlscaling.evaluate.memo)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rlscaling import base_cache
from rlscaling.errors import UserError
from rlscaling.pretrain import pretrain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, help="pre-training corpus parquet (column `text`)")
    parser.add_argument("--tokenizer", required=True, help="tokenizer folder (rlscaling tokenizer)")
    parser.add_argument("--params-json", required=True, help="JSON: {arch, pretrain, seed, size}")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", required=True, help="output model folder (Hugging Face format)")
    parser.add_argument("--record", required=True, help="output pretrain.json")
    parser.add_argument(
        "--cache",
        default=os.environ.get(base_cache.ENV) or None,
        help="base-model cache folder shared across studies (rlscaling.base_cache; default "
        f"${base_cache.ENV}, which the workflow sets from the config's base_model_cache; unset: no cache)",
    )


def main(args: argparse.Namespace) -> int:
    import pandas as pd
    from transformers import AutoTokenizer

    from rlscaling.io import read_params_json, write_json

    params = read_params_json(args.params_json)
    if not isinstance(params.get("arch"), dict):
        raise UserError("--params-json: expected an object with `arch` (the size's architecture)")
    if not Path(args.corpus).is_file():
        raise UserError(f"--corpus: file {args.corpus} does not exist")
    corpus = pd.read_parquet(args.corpus)
    if "text" not in corpus.columns:
        raise UserError(f"--corpus {args.corpus}: no `text` column")
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    except (OSError, ValueError) as err:
        raise UserError(f"--tokenizer {args.tokenizer}: cannot load a tokenizer ({err})") from None
    texts = corpus["text"].astype(str).tolist()
    key = base_cache.cache_key(texts, args.tokenizer, params, args.threads) if args.cache else None
    entry = base_cache.lookup(args.cache, key) if key else None
    if entry is not None:
        record = base_cache.restore(entry, args.out, args.record)
        print(
            f"pretrain {record['size']}: reused the base model {entry} (base-model cache hit; "
            f"its pre-training took {record['seconds']:.1f}s)",
            file=sys.stderr,
        )
        _evaluate_base(args)
        return 0
    record = pretrain(texts, tokenizer, params, args.out, args.threads)
    write_json(args.record, record)
    if key:
        entry = base_cache.store(args.cache, key, args.out, args.record)
        print(f"pretrain {record['size']}: stored in the base-model cache as {entry}", file=sys.stderr)
    print(
        f"pretrain {record['size']}: N={record['N']} tokens={record['tokens']} "
        f"loss={record['final_loss']:.4f} "
        f"heldout={record['heldout_loss']} {record['seconds']:.1f}s",
        file=sys.stderr,
    )
    _evaluate_base(args)
    return 0


def _evaluate_base(args: argparse.Namespace) -> None:
    """With the workflow's evaluation plan: evaluate the base model (step 0) here, where torch and the
    model code are loaded already; the evaluate job then copies it (rlscaling.evaluate.memo)."""
    from rlscaling.evaluate import memo

    memo.evaluate_after_training(args.out, 0, args.threads)

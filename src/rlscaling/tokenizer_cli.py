"""`rlscaling tokenizer`: build the tiny family's tokenizer from the pre-training corpus
(rlscaling.tokenizer)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rlscaling.errors import UserError
from rlscaling.tokenizer import build, save


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, help="pre-training corpus parquet (column `text`)")
    parser.add_argument("--params-json", default="{}", help='JSON, e.g. {"vocab_size": 512}')
    parser.add_argument("--out", required=True, help="output folder (tokenizer files)")


def main(args: argparse.Namespace) -> int:
    import pandas as pd

    from rlscaling.io import read_params_json

    params = read_params_json(args.params_json)
    vocab_size = params.get("vocab_size", 512)
    if not isinstance(vocab_size, int):
        raise UserError(f"pretrain.vocab_size: expected an integer, got {vocab_size!r}")
    if not Path(args.corpus).is_file():
        raise UserError(f"--corpus: file {args.corpus} does not exist")
    corpus = pd.read_parquet(args.corpus)
    if "text" not in corpus.columns:
        raise UserError(f"--corpus {args.corpus}: no `text` column")
    tokenizer = build(corpus["text"].astype(str).tolist(), vocab_size)
    save(tokenizer, args.out)
    print(f"tokenizer: {len(tokenizer)} tokens -> {args.out}")
    return 0

"""Prompt lengths of the training files against each run's training.max_prompt_tokens, before training.

    rlscaling prompt-lengths --params-json JSON -o S/data/prompt_lengths.json

JSON is {"checks": [...]}, one check per (train file, tokenizer, limit):

    {"file": "S/data/train.parquet", "tokenizer": "S/models/tokenizer" | hub path or id,
     "limit": 64, "key": "training.max_prompt_tokens" | "training.sizes.SIZE.max_prompt_tokens"}

Every prompt of a file is measured as the trainers see it: the tokenizer's chat template applied with
the generation prompt (trl: GRPOTrainer; verl: its RL dataset), in tokens. The output holds, per file and
tokenizer, the number of prompts and the max, mean and 50th / 90th / 99th percentiles of their lengths
and the longest prompt's row, and per check the limit and how many prompts exceed it.

A prompt longer than its run's limit would be cut (a cut question has no right answer) or, with verl's
filter_overlong_prompts, silently dropped from the data. So any check with such prompts is refused:
UserError naming the key, the file, the longest prompt's length and row, how many prompts exceed the
limit and the tokenizer, and nothing is written. The workflow runs this (rule prompt_lengths) before the
first training segment of every run.
"""

from __future__ import annotations

from typing import Any

from rlscaling.errors import UserError

PERCENTILES = (50, 90, 99)


def prompt_lengths(prompts: list[list[dict[str, str]]], tokenizer: Any) -> list[int]:
    """Tokens of each chat prompt (a list of {role, content} messages) with the tokenizer's chat template
    and generation prompt applied, as the trainers encode it."""
    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def summarize(lengths: list[int]) -> dict[str, Any]:
    """prompts, max, mean, p50 / p90 / p99 (nearest rank) of prompt lengths in tokens, and the row of
    the longest (the first one)."""
    import numpy as np

    if not lengths:
        return {"prompts": 0, "max": None, "mean": None, "longest_row": None} | {
            f"p{q}": None for q in PERCENTILES
        }
    arr = np.asarray(lengths)
    out = {"prompts": len(lengths), "max": int(arr.max()), "mean": float(arr.mean())}
    out |= {f"p{q}": int(np.percentile(arr, q, method="inverted_cdf")) for q in PERCENTILES}
    out["longest_row"] = int(arr.argmax())
    return out


def refusal(check: dict[str, Any], lengths: list[int], stats: dict[str, Any]) -> str | None:
    """The message refusing `check` when a prompt is longer than its limit; None when all fit."""
    limit = int(check["limit"])
    over = sum(n > limit for n in lengths)
    if not over:
        return None
    return (
        f"{check['key']}: {limit} tokens would cut prompts of {check['file']}: the longest has "
        f"{stats['max']} tokens (row {stats['longest_row']}), and {over} of {stats['prompts']} prompts are "
        f"longer than {limit} (chat template of {check['tokenizer']} applied); raise {check['key']} to at "
        f"least {stats['max']} or drop the long prompts from the data"
    )


def read_checks(text: str) -> list[dict[str, Any]]:
    from rlscaling.io import read_params_json

    checks = read_params_json(text).get("checks")
    if not isinstance(checks, list):
        raise UserError('--params-json: expected {"checks": [{file, tokenizer, limit, key}, ...]}')
    for i, c in enumerate(checks):
        missing = {"file", "tokenizer", "limit", "key"} - set(c if isinstance(c, dict) else {})
        if missing:
            raise UserError(f"--params-json: checks[{i}]: missing {sorted(missing)}")
        if isinstance(c["limit"], bool) or not isinstance(c["limit"], int) or c["limit"] < 1:
            raise UserError(
                f"--params-json: checks[{i}]: limit must be a positive integer, got {c['limit']!r}"
            )
    return checks


def measure(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The report of `checks` (see the module doc). Raises UserError with every refused check."""
    from rlscaling.checkpoint import load_tokenizer
    from rlscaling.rows import read_training_rows

    tokenizers: dict[str, Any] = {}
    measured: dict[tuple[str, str], tuple[list[int], dict[str, Any]]] = {}
    report: dict[str, Any] = {"files": {}, "checks": []}
    refused = []
    for check in checks:
        file, tok = str(check["file"]), str(check["tokenizer"])
        if (file, tok) not in measured:
            if tok not in tokenizers:
                try:
                    tokenizers[tok] = load_tokenizer(tok)
                except (OSError, ValueError) as err:
                    raise UserError(
                        f"tokenizer {tok}: cannot be loaded ({type(err).__name__}: {err})"
                    ) from None
            prompts = read_training_rows(file).column("prompt").to_pylist()
            lengths = prompt_lengths(prompts, tokenizers[tok])
            measured[(file, tok)] = (lengths, summarize(lengths))
            report["files"].setdefault(file, {})[tok] = measured[(file, tok)][1]
        lengths, stats = measured[(file, tok)]
        over = sum(n > int(check["limit"]) for n in lengths)
        report["checks"].append({**check, "longer": over})
        message = refusal(check, lengths, stats)
        if message:
            refused.append(message)
    if refused:
        raise UserError("\n".join(refused))
    return report

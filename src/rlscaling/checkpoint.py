"""Loading checkpoints the same way in every stage (training, evaluation), and checking them first.

A checkpoint folder written by this project (a pre-trained base model, a trl training segment) carries
a manifest, `rlscaling_manifest.json`: the size and sha256 of every file in it, written last, inside
the atomic write. `verify(folder)` checks the folder against it before anything is read; a missing,
truncated or altered file is a UserError that names the file and the command that redoes the
checkpoint (`snakemake --force FOLDER`, run where the study runs), instead of a raw safetensors /
torch traceback that names neither. `load_tokenizer` verifies first, so every stage that loads a
checkpoint through it (training, evaluation) refuses a damaged one. Folders without a manifest (hub
models, outside checkpoints) are read unchecked.

RLSCALING_CHECKPOINT_VERIFY: `full` (default; sizes and sha256, ~1-2 s per GB), `size` (sizes only:
catches truncation, for very large checkpoints), `off`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError

MANIFEST = "rlscaling_manifest.json"
VERIFY_ENV = "RLSCALING_CHECKPOINT_VERIFY"
_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: str | Path) -> dict[str, Any]:
    """Write `folder`/rlscaling_manifest.json: {file: {bytes, sha256}} for every file below `folder`
    (relative paths; the manifest itself excluded), and the writing command for the record. Call it
    last, when the folder is complete. Returns the manifest."""
    folder = Path(folder)
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        files[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    manifest = {"format": 1, "files": files, "written_by": " ".join(sys.argv[:3])}
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, folder / MANIFEST)
    return manifest


def redo_command(folder: str | Path) -> str:
    return f"snakemake --force {folder}"


def verify(folder: str | Path, mode: str | None = None, redo: str | None = None) -> bool:
    """Check `folder` against its manifest (see the module docstring). Returns False when it has no
    manifest (not checked), True when every file matches; raises UserError naming the first damaged
    file and how to redo it: `redo` (None: the Snakemake command that redoes a study's checkpoint; ""
    for none, when the caller says what happens)."""
    folder = Path(folder)
    mode = mode or os.environ.get(VERIFY_ENV, "full")
    if mode not in ("full", "size", "off"):
        raise UserError(f"{VERIFY_ENV}={mode!r}: expected full, size or off")
    path = folder / MANIFEST
    if mode == "off" or not path.is_file():
        return False
    if redo is None:
        redo = (
            f"redo the checkpoint with `{redo_command(folder)}` (later segments and evaluations that "
            "read it rerun after it)"
        )
    redo = f"; {redo}" if redo else ""
    try:
        files = json.loads(path.read_text())["files"]
        entries = [(str(k), int(v["bytes"]), str(v["sha256"])) for k, v in files.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(
            f"{path}: damaged checkpoint manifest ({type(err).__name__}: {err}){redo}"
        ) from None
    for name, size, digest in entries:
        f = folder / name
        if not f.is_file():
            raise UserError(f"{f}: damaged checkpoint: the file is missing{redo}")
        found = f.stat().st_size
        if found != size:
            what = "truncated" if found < size else "longer than written"
            raise UserError(f"{f}: damaged checkpoint: {what} ({found} bytes, written with {size}){redo}")
        if mode == "full" and _sha256(f) != digest:
            raise UserError(
                f"{f}: damaged checkpoint: its content changed (sha256 differs from the manifest){redo}"
            )
    return True


def load_tokenizer(model: str, check: bool = True) -> Any:
    """The model's tokenizer, after `verify`-ing a local checkpoint folder against its manifest (unless
    `check` is False: the caller verified it).

    AutoTokenizer picks the tokenizer class from the model's `model_type` when tokenizer_config.json
    names a generic class, so a custom tokenizers-library tokenizer saved beside a Qwen2 model would be
    rebuilt as a Qwen2 byte-level tokenizer and encode differently. A local folder whose tokenizer
    declares `TokenizersBackend` / `PreTrainedTokenizerFast` is therefore loaded with that class as is.
    """
    from transformers import AutoTokenizer

    if check and Path(model).is_dir():
        verify(model)  # a damaged checkpoint is named before it is read
    cfg_path = Path(model) / "tokenizer_config.json"
    if cfg_path.is_file():
        try:
            declared = json.loads(cfg_path.read_text()).get("tokenizer_class")
        except (json.JSONDecodeError, OSError):
            declared = None
        if declared in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            from transformers import PreTrainedTokenizerFast

            return PreTrainedTokenizerFast.from_pretrained(model)
    return AutoTokenizer.from_pretrained(model)

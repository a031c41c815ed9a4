"""The base-model cache: pre-trained tiny base models shared across studies.

A base model is a pure function of its inputs: the corpus' documents, the tokenizer, the settings
(architecture, pre-training, seed) and the thread count (pre-training is deterministic for a given seed
and thread count), computed by this code under these library versions. Two studies whose base models
agree in all of that (the default study, tiny-rollouts and tiny-reuse; the 2M-token budget of
tiny-split) need to pre-train it once. The cache keys every base
model by the sha256 of those inputs:

    {cache}/{key}/base/          the model folder as `rlscaling pretrain --out` writes it (with its manifest)
    {cache}/{key}/pretrain.json  its record (N, tokens, FLOPs, the seconds its pre-training took, ...)

`rlscaling pretrain --cache DIR` (the workflow passes the config's `base_model_cache`) looks the key up
first: a hit whose folder passes its manifest check is copied to --out / --record, byte for byte, and
nothing is trained; a miss pre-trains and then stores the result. Entries are written to a temporary
folder and renamed into place, so a killed job never leaves an entry the cache would trust, and two
jobs that store the same key at once keep one of them (the same bytes). A damaged entry is named,
ignored and trained again. Copies, not links: a study may delete or redo its models without touching
the cache. The cache never follows a symbolic link: an entry that is a link, or holds one, is named
and replaced by a real folder (the link's target is left alone).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from rlscaling.errors import UserError
from rlscaling.io import umask

FORMAT = 1
ENV = "RLSCALING_BASE_MODEL_CACHE"  # the folder, for `rlscaling pretrain --cache`'s default
# the code a base model is computed by: a change to any of these files gives every base model a new key
CODE_FILES = ("pretrain.py", "models.py", "compute.py", "checkpoint.py")  # checkpoint: the manifest


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_fingerprint() -> str:
    """sha256 over the source of the pre-training code (CODE_FILES) and the versions of torch and
    transformers, which decide the floating-point result."""
    import torch
    import transformers

    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in CODE_FILES:
        h.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
    h.update(f"torch={torch.__version__};transformers={transformers.__version__}".encode())
    return h.hexdigest()


def folder_digest(folder: str | Path) -> str:
    """sha256 over every file below `folder` (relative names and contents, in name order), except the
    `.snakemake_timestamp` Snakemake leaves in a directory output."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".snakemake")):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(texts: list[str], tokenizer_dir: str | Path, params: dict[str, Any], threads: int) -> str:
    """The key of a base model: sha256 (hex, 64 characters) of its documents `texts` (the corpus'
    `text` column, in order), the tokenizer folder's files, `params` ({arch, pretrain, seed, size}),
    the torch thread count and `code_fingerprint()`."""
    h = hashlib.sha256()
    h.update(f"rlscaling-base-model-cache-{FORMAT}\0".encode())
    h.update(_sha256_bytes("\0".join(texts).encode()).encode())
    h.update(folder_digest(tokenizer_dir).encode())
    h.update(json.dumps(params, sort_keys=True, separators=(",", ":")).encode())
    h.update(f"threads={int(threads)}".encode())
    h.update(code_fingerprint().encode())
    return h.hexdigest()


def symlink_in(entry: Path) -> Path | None:
    """The first symbolic link at or below `entry` (the entry itself, a folder or a file in it), else
    None. Links are never followed: an entry must be a real folder of real files inside the cache."""
    if entry.is_symlink():
        return entry
    if not entry.is_dir():
        return None
    for root, dirs, files in os.walk(entry, followlinks=False):
        for name in sorted(dirs) + sorted(files):
            if (Path(root) / name).is_symlink():
                return Path(root) / name
    return None


def _damage(entry: Path) -> str | None:
    """Why `entry` cannot be used (a symbolic link, no manifest, a damaged file), None when it is whole;
    the entry must hold base/ and pretrain.json."""
    from rlscaling.checkpoint import verify

    link = symlink_in(entry)
    if link is not None:
        return f"{link} is a symbolic link (to {os.readlink(link)}); the cache never follows links"
    try:
        if not verify(entry / "base", "full", redo=""):
            return "it has no manifest"
        json.loads((entry / "pretrain.json").read_text())
    except (UserError, ValueError, OSError) as err:
        return str(err)
    return None


def lookup(cache: str | Path, key: str, *, report: bool = True) -> Path | None:
    """The entry folder of `key` when the cache holds a complete, undamaged one (a real folder, no
    symbolic link in it), else None. An entry that is a link or damaged is named on stderr (unless
    `report` is False) and treated as absent; `store` replaces it."""
    entry = Path(cache) / key
    if not entry.exists() and not entry.is_symlink():
        return None
    if not entry.is_symlink() and not ((entry / "base").is_dir() and (entry / "pretrain.json").is_file()):
        return None  # another job is storing it, or it was never completed
    why = _damage(entry)
    if why is None:
        return entry
    if report:
        print(
            f"base-model cache: entry {entry} ignored and replaced by this pre-training ({why}); to "
            f"drop it by hand: rm -rf {entry}",
            file=sys.stderr,
        )
    return None


def store(cache: str | Path, key: str, model_dir: str | Path, record_path: str | Path) -> Path:
    """Copy a pre-trained model folder and its record into the cache under `key` (atomically: a
    temporary folder renamed into place; when another job stored the key first, its entry is kept).
    Returns the entry folder."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    entry = cache / key
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=cache))
    try:
        shutil.copytree(model_dir, tmp / "base")
        shutil.copy2(record_path, tmp / "pretrain.json")
        os.chmod(tmp, 0o777 & ~umask())
        if entry.is_symlink():
            entry.unlink()  # a link is replaced, never followed (its target is left alone)
        elif entry.exists() and lookup(cache, key, report=False) is None:
            shutil.rmtree(entry, ignore_errors=True)  # a damaged entry: replace it
        try:
            os.rename(tmp, entry)
        except OSError:
            if lookup(cache, key, report=False) is None:  # not a concurrent store of the key: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return entry


def restore(entry: str | Path, out: str | Path, record: str | Path) -> dict[str, Any]:
    """Copy a cache entry to the model folder `out` and the record file `record`, atomically and byte
    for byte. Returns the record."""
    from rlscaling.io import atomic_dir, atomic_path

    entry = Path(entry)
    with atomic_dir(out) as tmp:
        shutil.rmtree(tmp)
        shutil.copytree(entry / "base", tmp)
    with atomic_path(record) as tmp_record:
        shutil.copyfile(entry / "pretrain.json", tmp_record)
    return json.loads(Path(record).read_text())


def export(cache: str | None, env: MutableMapping[str, str] | None = None) -> None:
    """Name the cache folder in `env` (default os.environ) for the pre-training jobs; remove it when
    `cache` is None (no cache). The workflow calls it with the config's `base_model_cache`."""
    env = os.environ if env is None else env
    if cache:
        env[ENV] = str(cache)
    else:
        env.pop(ENV, None)

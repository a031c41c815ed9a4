"""Specification of rlscaling.base_cache: a base model pre-trained once is reused by every study whose
corpus, tokenizer, settings, seed, threads and code agree, byte for byte; anything else trains anew.

A 2-layer width-16 model on ~20k tokens (a couple of seconds), as in test_pretrain.py.
"""

from __future__ import annotations

import argparse
import json
import shutil

import pytest
from helpers import FAMILY_TEST_ARCH

from rlscaling import base_cache
from rlscaling import config as rc
from rlscaling import pretrain_cli
from rlscaling import tokenizer as tk
from rlscaling.data import synthetic as syn
from rlscaling.errors import UserError
from rlscaling.paths import PROJECT_ROOT

ARCH = FAMILY_TEST_ARCH
PARAMS = {
    "arch": ARCH,
    "pretrain": {"tokens": 20000, "seq_len": 64, "batch_size": 8, "lr": 0.01},
    "seed": 0,
    "size": "xs",
}


def _args(root, out, cache, **params):
    return argparse.Namespace(
        corpus=str(root / "corpus.parquet"),
        tokenizer=str(root / "tok"),
        params_json=json.dumps({**PARAMS, **params}),
        threads=1,
        out=str(root / out / "base"),
        record=str(root / out / "pretrain.json"),
        cache=str(cache),
    )


def _files(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture()
def root(tmp_path):
    data = syn.generate({"n_train": 10, "n_pretrain": 600, "n_ood": 0}, seed=0)
    data.corpus.to_parquet(tmp_path / "corpus.parquet")
    tk.save(tk.build(data.corpus["text"].tolist()), tmp_path / "tok")
    return tmp_path


@pytest.fixture()
def trainings(monkeypatch):
    """Counts the pre-trainings that actually run."""
    calls = []
    real = pretrain_cli.pretrain

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pretrain_cli, "pretrain", counted)
    return calls


def test_a_second_study_with_the_same_inputs_copies_the_cached_model_byte_for_byte(root, trainings):
    cache = root / "cache"
    assert pretrain_cli.main(_args(root, "study_a", cache)) == 0
    assert pretrain_cli.main(_args(root, "study_b", cache)) == 0
    assert len(trainings) == 1
    assert _files(root / "study_b" / "base") == _files(root / "study_a" / "base")
    assert (root / "study_b" / "pretrain.json").read_bytes() == (
        root / "study_a" / "pretrain.json"
    ).read_bytes()
    (entry,) = [p for p in cache.iterdir()]
    assert len(entry.name) == 64 and _files(entry / "base") == _files(root / "study_a" / "base")


def test_a_different_seed_or_setting_trains_its_own_model(root, trainings):
    cache = root / "cache"
    assert pretrain_cli.main(_args(root, "a", cache)) == 0
    assert pretrain_cli.main(_args(root, "b", cache, seed=1)) == 0
    assert pretrain_cli.main(_args(root, "c", cache, arch={**ARCH, "intermediate_size": 48})) == 0
    assert len(trainings) == 3 and len(list(cache.iterdir())) == 3


def test_the_key_changes_with_documents_tokenizer_settings_and_threads(root):
    texts = ["Tom has 3 pens. #### 3", "Ann has 2 cats. #### 2"]
    tok = root / "tok"
    key = base_cache.cache_key(texts, tok, PARAMS, 1)
    assert base_cache.cache_key(list(texts), tok, json.loads(json.dumps(PARAMS)), 1) == key
    other_tok = root / "tok2"
    shutil.copytree(tok, other_tok)
    (other_tok / ".snakemake_timestamp").write_text("")  # Snakemake's mark on a directory output
    assert base_cache.cache_key(texts, other_tok, PARAMS, 1) == key  # the same files elsewhere
    (other_tok / "tokenizer.json").write_text((tok / "tokenizer.json").read_text().replace("pens", "pins"))
    changed = [
        base_cache.cache_key(texts[::-1], tok, PARAMS, 1),
        base_cache.cache_key(texts, other_tok, PARAMS, 1),
        base_cache.cache_key(texts, tok, {**PARAMS, "seed": 1}, 1),
        base_cache.cache_key(texts, tok, {**PARAMS, "pretrain": {**PARAMS["pretrain"], "tokens": 40000}}, 1),
        base_cache.cache_key(texts, tok, PARAMS, 2),
    ]
    assert key not in changed and len(set(changed)) == len(changed)


def test_a_damaged_entry_is_named_ignored_and_trained_again(root, trainings, capsys):
    cache = root / "cache"
    assert pretrain_cli.main(_args(root, "a", cache)) == 0
    (entry,) = list(cache.iterdir())
    weights = entry / "base" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    assert pretrain_cli.main(_args(root, "b", cache)) == 0
    assert len(trainings) == 2
    assert f"base-model cache: entry {entry} ignored and replaced" in capsys.readouterr().err
    assert _files(root / "b" / "base") == _files(root / "a" / "base")  # deterministic: the same model again
    assert base_cache.lookup(cache, entry.name) == entry  # and the entry is whole again


def test_a_store_that_fails_midway_leaves_no_entry_and_no_temporary_folder(root, monkeypatch):
    cache = root / "cache"
    assert pretrain_cli.main(_args(root, "a", cache)) == 0
    (entry,) = list(cache.iterdir())
    shutil.rmtree(entry)

    def killed(*args, **kwargs):
        raise OSError("killed while copying")

    monkeypatch.setattr(base_cache.shutil, "copy2", killed)
    with pytest.raises(OSError):
        base_cache.store(cache, entry.name, root / "a" / "base", root / "a" / "pretrain.json")
    assert list(cache.iterdir()) == []


def test_the_config_names_the_cache_folder_or_turns_it_off():
    cfg = {"results_dir": "results", "study": "default"}
    assert rc.base_model_cache(cfg) == "results/base_models"
    assert rc.base_model_cache({**cfg, "base_model_cache": "/shared/base_models"}) == "/shared/base_models"
    assert rc.base_model_cache({**cfg, "base_model_cache": False}) is None


def test_the_workflow_names_the_folder_to_the_jobs_through_the_environment_and_removes_it_when_off():
    env = {}
    base_cache.export("results/base_models", env)
    assert env == {base_cache.ENV: "results/base_models"}
    base_cache.export(None, env)
    assert env == {}


def test_a_study_named_like_the_cache_folder_is_refused():
    with pytest.raises(UserError, match="base-model cache"):
        rc.check(rc.load(PROJECT_ROOT / "config.yaml", {"study": "base_models"}))
    rc.check(rc.load(PROJECT_ROOT / "config.yaml", {"study": "base_models", "base_model_cache": False}))


def test_a_damaged_entry_is_named_once_with_a_command_that_works(root, trainings, capsys):
    cache = root / "cache"
    assert pretrain_cli.main(_args(root, "a", cache)) == 0
    (entry,) = list(cache.iterdir())
    (entry / "base" / "model.safetensors").write_bytes(b"x")
    capsys.readouterr()
    assert pretrain_cli.main(_args(root, "b", cache)) == 0
    err = capsys.readouterr().err
    assert err.count(f"base-model cache: entry {entry} ignored") == 1
    assert f"to drop it by hand: rm -rf {entry}" in err and "snakemake" not in err


def _pretrained_elsewhere(root, cache):
    """A cache with one entry, moved out of the cache: (the key, the folder outside)."""
    assert pretrain_cli.main(_args(root, "a", cache)) == 0
    (entry,) = list(cache.iterdir())
    outside = root / "outside"
    shutil.move(entry, outside)
    return entry, outside


@pytest.mark.parametrize("target", ["intact folder", "damaged folder", "file"])
def test_a_symlinked_entry_is_named_never_followed_and_replaced(root, trainings, capsys, target):
    cache = root / "cache"
    entry, outside = _pretrained_elsewhere(root, cache)
    if target == "damaged folder":
        (outside / "base" / "model.safetensors").write_bytes(b"x")
    elif target == "file":
        shutil.rmtree(outside)
        outside.write_text("not a model")
    before = outside.read_bytes() if outside.is_file() else _files(outside)
    entry.symlink_to(outside)
    capsys.readouterr()
    assert pretrain_cli.main(_args(root, "b", cache)) == 0
    assert len(trainings) == 2  # never a cache hit through the link
    err = capsys.readouterr().err
    assert f"{entry} is a symbolic link (to {outside}); the cache never follows links" in err
    assert not entry.is_symlink() and base_cache.lookup(cache, entry.name) == entry  # a real entry now
    assert (outside.read_bytes() if outside.is_file() else _files(outside)) == before  # the target untouched


def test_a_symlinked_file_inside_an_entry_is_not_followed(root, trainings, capsys):
    cache = root / "cache"
    assert pretrain_cli.main(_args(root, "a", cache)) == 0
    (entry,) = list(cache.iterdir())
    weights = entry / "base" / "model.safetensors"
    copy = root / "weights.safetensors"
    shutil.move(weights, copy)
    weights.symlink_to(copy)
    assert base_cache.lookup(cache, entry.name) is None
    assert f"{weights} is a symbolic link" in capsys.readouterr().err

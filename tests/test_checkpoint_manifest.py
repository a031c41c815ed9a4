"""A damaged checkpoint is named (rlscaling.checkpoint): base models and trl segments carry a manifest of
their files' sizes and sha256, checked before a checkpoint is read (training resumes from it,
evaluation loads it); a missing, truncated or altered file is a UserError naming the file and the
command that redoes the checkpoint. Before: a raw safetensors / torch traceback naming neither."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlscaling import checkpoint
from rlscaling.cli import main as cli_main
from rlscaling.errors import UserError


@pytest.fixture()
def folder(tmp_path) -> Path:
    d = tmp_path / "runs" / "xs" / "step_000002"
    d.mkdir(parents=True)
    (d / "model.safetensors").write_bytes(b"w" * 1000)
    (d / "optimizer.pt").write_bytes(b"o" * 500)
    (d / "sub").mkdir()
    (d / "sub" / "x.json").write_text("{}")
    checkpoint.write_manifest(d)
    return d


def test_the_manifest_lists_every_files_size_and_sha256(folder):
    files = json.loads((folder / checkpoint.MANIFEST).read_text())["files"]
    assert set(files) == {"model.safetensors", "optimizer.pt", "sub/x.json"}
    assert files["optimizer.pt"]["bytes"] == 500 and len(files["optimizer.pt"]["sha256"]) == 64
    assert checkpoint.verify(folder) is True


def test_a_truncated_file_is_named_with_the_command_that_redoes_the_checkpoint(folder):
    (folder / "model.safetensors").write_bytes(b"w" * 10)
    with pytest.raises(UserError) as err:
        checkpoint.verify(folder)
    msg = str(err.value)
    assert msg.startswith(
        f"{folder / 'model.safetensors'}: damaged checkpoint: truncated (10 bytes, written with 1000)"
    )
    assert f"snakemake --force {folder}" in msg


def test_a_changed_file_of_the_same_size_is_caught_by_its_hash_and_a_missing_one_by_name(folder):
    (folder / "optimizer.pt").write_bytes(b"x" * 500)
    with pytest.raises(UserError, match=r"optimizer\.pt: damaged checkpoint: its content changed"):
        checkpoint.verify(folder)
    assert checkpoint.verify(folder, mode="size") is True  # sizes only: truncation, not content
    (folder / "sub" / "x.json").unlink()
    with pytest.raises(UserError, match=r"sub/x\.json: damaged checkpoint: the file is missing"):
        checkpoint.verify(folder, mode="size")


def test_a_folder_without_a_manifest_is_read_unchecked(tmp_path):
    assert checkpoint.verify(tmp_path) is False


def test_loading_a_damaged_checkpoint_names_the_file_before_transformers_reads_it(folder):
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match=r"model\.safetensors: damaged checkpoint: truncated"):
        checkpoint.load_tokenizer(str(folder))


@pytest.mark.slow
@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.pt"])
def test_a_trl_segment_writes_a_manifest_and_the_next_segment_names_a_damaged_file(tmp_path, capsys, damaged):
    from test_train_trl import build_tiny_model, write_data

    build_tiny_model(tmp_path / "base")
    write_data(tmp_path / "train.parquet", n=4)
    params = {"engine": "trl", "segment_steps": 1, "seed": 0, "size": "xs", "run": "xs",
              "prompts_per_step": 2, "rollouts_per_prompt": 2, "max_response_tokens": 4,
              "reward": "flexible"}  # fmt: skip

    def train(init: Path, step: int) -> int:
        out = tmp_path / "runs" / "xs" / f"step_{step:06d}"
        data = str(tmp_path / "train.parquet")
        return cli_main(["train", "--params-json", json.dumps(params), "--init", str(init),
                         "--data", data, "--step", str(step), "--out", str(out)])  # fmt: skip

    assert train(tmp_path / "base", 1) == 0
    step1 = tmp_path / "runs" / "xs" / "step_000001"
    assert checkpoint.verify(step1) is True
    path = step1 / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    capsys.readouterr()
    assert train(step1, 2) == 2
    err = capsys.readouterr().err
    assert f"{path}: damaged checkpoint: truncated" in err and f"snakemake --force {step1}" in err, err
    assert not (tmp_path / "runs" / "xs" / "step_000002").exists()

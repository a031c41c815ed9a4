"""Specification of rlscaling.pretrain: a tiny model pre-trained from scratch on the synthetic corpus.

One module-scoped run through the CLI (a 2-layer width-16 model, ~20k tokens, a couple of seconds);
the other tests read its outputs.
"""

from __future__ import annotations

import argparse
import json
import math

import pytest
from helpers import FAMILY_TEST_ARCH

from rlscaling import pretrain as pt
from rlscaling import pretrain_cli
from rlscaling import tokenizer as tk
from rlscaling.compute import pretrain_flops
from rlscaling.data import synthetic as syn
from rlscaling.errors import UserError

ARCH = FAMILY_TEST_ARCH
PRETRAIN = {"tokens": 20000, "seq_len": 64, "batch_size": 8, "lr": 0.01, "warmup_steps": 5}


def _args(root, out="model", record="pretrain.json", cache=None, **params):
    p = {"arch": ARCH, "pretrain": PRETRAIN, "seed": 0, "size": "xs", **params}
    return argparse.Namespace(
        corpus=str(root / "corpus.parquet"),
        tokenizer=str(root / "tok"),
        params_json=json.dumps(p),
        threads=1,
        out=str(root / out),
        record=str(root / record),
        cache=cache,
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    data = syn.generate({"n_train": 10, "n_pretrain": 600, "n_ood": 0}, seed=0)
    data.corpus.to_parquet(root / "corpus.parquet")
    tk.save(tk.build(data.corpus["text"].tolist()), root / "tok")
    assert pretrain_cli.main(_args(root)) == 0
    return root


@pytest.fixture(scope="module")
def record(root):
    return json.loads((root / "pretrain.json").read_text())


def test_record_has_counts_tokens_flops_timing_and_loss_curve(record):
    assert record["size"] == "xs"
    assert record["tokens"] == math.ceil(20000 / (64 * 8)) * 64 * 8
    assert record["flops"] == pretrain_flops(record["N"], record["tokens"])
    assert 0 < record["N_nonembed"] < record["N"]
    assert record["seconds"] > 0 and record["tokens_per_second"] > 0
    assert record["arch"] == ARCH
    assert record["loss_curve"][-1][0] == record["tokens"]
    assert record["final_loss"] == record["loss_curve"][-1][1]
    assert record["heldout_loss"] > 0


def test_loss_falls(record):
    curve = [loss for _, loss in record["loss_curve"]]
    assert curve[-1] < curve[0] - 1.0


def test_model_folder_loads_with_tokenizer_and_generation_config(root):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    model = AutoModelForCausalLM.from_pretrained(root / "model")
    tok = AutoTokenizer.from_pretrained(root / "model")
    gen = GenerationConfig.from_pretrained(root / "model")
    assert type(model).__name__ == "Qwen3ForCausalLM"
    assert (gen.eos_token_id, gen.pad_token_id, gen.bos_token_id) == (tok.eos_token_id, tok.pad_token_id, 1)
    assert tok.chat_template


def test_no_temporary_folders_are_left(root):
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")]


def test_same_seed_same_weights(root):
    from safetensors.torch import load_file

    assert pretrain_cli.main(_args(root, out="again", record="again.json")) == 0
    a = load_file(root / "model" / "model.safetensors")
    b = load_file(root / "again" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    lrs = [pt.lr_at(s, 100, 1.0, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))
    assert pt.lr_at(100, 100, 1.0, 10) == pytest.approx(pt.MIN_LR_RATIO)


def test_a_packed_document_sees_only_itself(root):
    """Block-diagonal attention: a document's logits in a packed row equal those of the document alone
    (as a prompt is seen at RL / evaluation time)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(root / "model").eval()
    a, b = [1, 50, 60, 70, 2], [1, 80, 90, 100, 110, 2]
    packed = torch.tensor([a + b])
    pos = pt.document_positions(packed, bos_id=1)
    assert pos.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5]]
    with torch.no_grad():
        inside = model(input_ids=packed, position_ids=pos, use_cache=False).logits[0, len(a) :]
        alone = model(input_ids=torch.tensor([b])).logits[0]
    assert torch.allclose(inside, alone, atol=1e-5)


def test_lr_scales_with_one_over_width_when_a_base_width_is_set():
    s = pt.settings({"pretrain": {"lr": 0.002, "lr_base_width": 128}})
    assert pt.size_lr(s, 128) == pytest.approx(0.002)
    assert pt.size_lr(s, 32) == pytest.approx(0.008)
    assert pt.size_lr(pt.settings({"pretrain": {"lr": 0.002}}), 32) == pytest.approx(0.002)


def test_documents_are_framed_by_bos_and_eos(root):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(root / "tok")
    (doc,) = pt.encode_documents(["Tom has 3 pens.\n3+1=4. #### 4"], tok)
    assert doc[0] == tok.bos_token_id and doc[-1] == tok.eos_token_id


def test_bad_setting_is_a_user_error_naming_the_key(root):
    with pytest.raises(UserError, match="pretrain.seq_len"):
        pretrain_cli.main(_args(root, pretrain={**PRETRAIN, "seq_len": 0}))
    with pytest.raises(UserError, match="models.sizes.xs.hidden_size"):
        pretrain_cli.main(_args(root, arch={**ARCH, "hidden_size": 15}))


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_seed_candidates_keep_the_lowest_probe_loss_and_equal_a_single_run_of_that_seed(root):
    """k seeds train side by side for the probe steps; the best by held-out loss trains on, and the
    result is exactly the single run with its seed (the others only cost their probe)."""
    cand = {**PRETRAIN, "seed_candidates": 3, "probe_fraction": 0.25}
    assert pretrain_cli.main(_args(root, out="best", record="best.json", pretrain=cand, seed=5)) == 0
    rec = json.loads((root / "best.json").read_text())
    losses = {c["seed"]: c["probe_heldout_loss"] for c in rec["candidates"]}
    assert sorted(losses) == [5, 6, 7]
    assert rec["seed"] == min(losses, key=losses.get)
    probe = rec["candidates"][0]["probe_steps"]
    assert probe == round(0.25 * rec["steps"])
    tokens_per_step = PRETRAIN["seq_len"] * PRETRAIN["batch_size"]
    assert rec["flops_dropped_candidates"] == pretrain_flops(rec["N"], 2 * probe * tokens_per_step)

    assert pretrain_cli.main(_args(root, out="single", record="single.json", seed=rec["seed"])) == 0
    best, single = _weights(root / "best"), _weights(root / "single")
    assert all((best[k] == single[k]).all() for k in single)
    assert json.loads((root / "single.json").read_text())["candidates"] == []


def test_bad_seed_candidate_settings_are_user_errors_naming_the_key(root):
    with pytest.raises(UserError, match="pretrain.seed_candidates"):
        pt.settings({"pretrain": {"seed_candidates": 0}})
    with pytest.raises(UserError, match="pretrain.probe_fraction"):
        pt.settings({"pretrain": {"probe_fraction": 1.0}})

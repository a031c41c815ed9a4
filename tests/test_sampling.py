"""rlscaling.sampling: batched sampling over a static KV cache that equals transformers' generate."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from transformers import GenerationConfig  # noqa: E402

from rlscaling import models, sampling  # noqa: E402

ARCH = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "intermediate_size": 64, "head_dim": 16}  # fmt: skip
PAD, BOS, EOS = 0, 1, 2


class _Vocab:
    """What rlscaling.models.build reads of a tokenizer."""

    bos_token_id, eos_token_id, pad_token_id = BOS, EOS, PAD

    def __len__(self) -> int:
        return 64


def _model(seed: int = 0):
    return models.build(ARCH, _Vocab(), seed=seed).eval()


def _prompts(batch: int = 24, width: int = 12, seed: int = 0):
    """Left-padded prompts of lengths 4..width: ids (batch, width) and attention mask."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 64, (batch, width), generator=g)
    mask = torch.ones(batch, width, dtype=torch.long)
    for row, n in enumerate(torch.randint(4, width + 1, (batch,), generator=g).tolist()):
        ids[row, : width - n], mask[row, : width - n] = PAD, 0
    return ids, mask


def _config(**kw) -> GenerationConfig:
    base = {"max_new_tokens": 20, "do_sample": True, "temperature": 1.0, "top_p": 1.0, "top_k": 0,
            "pad_token_id": PAD, "eos_token_id": [EOS, 5, 7, 11], "num_beams": 1}  # fmt: skip
    return GenerationConfig(**{**base, **kw})


def _both(model, gc, seed: int = 3):
    ids, mask = _prompts()
    torch.manual_seed(seed)
    expected = model.generate(input_ids=ids, attention_mask=mask, generation_config=gc)
    torch.manual_seed(seed)
    got = sampling.generate(model, ids, mask, gc)
    return expected, got


@pytest.mark.parametrize(
    "settings",
    [{}, {"temperature": 0.7, "top_p": 0.9}, {"top_k": 8}, {"do_sample": False}],
    ids=["temperature-1", "temperature-and-top-p", "top-k", "greedy"],
)
def test_generate_returns_the_tokens_transformers_generate_returns_for_the_same_seed(settings):
    expected, got = _both(_model(), _config(**settings))
    assert got.shape == expected.shape
    assert torch.equal(got, expected)


def test_rows_stop_at_their_first_eos_and_are_padded_after_it():
    _, got = _both(_model(), _config())
    new = got[:, 12:]
    stopped = 0
    for row in new.tolist():
        ends = [i for i, t in enumerate(row) if t in (EOS, 5, 7, 11)]
        if ends:
            stopped += 1
            assert all(t == PAD for t in row[ends[0] + 1 :])
    assert stopped > 0  # the four EOS ids make early stops common for this random model


def test_generation_reads_the_current_weights_of_a_training_model():
    model = _model()
    ids, mask = _prompts()
    gc = _config(do_sample=False)
    before = sampling.generate(model, ids, mask, gc)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.mul_(3.0)
    after = sampling.generate(model, ids, mask, gc)
    assert torch.equal(after, model.generate(input_ids=ids, attention_mask=mask, generation_config=gc))
    assert not torch.equal(before, after)


@pytest.mark.parametrize(
    "settings",
    [
        {"repetition_penalty": 1.2},
        {"num_beams": 2, "do_sample": False},
        {"min_p": 0.1},
        {"max_new_tokens": None},
    ],
)
def test_settings_it_does_not_implement_are_not_supported(settings):
    assert not sampling.supports(_model(), _config(**settings))


def test_other_architectures_are_not_supported():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    qwen2 = Qwen2ForCausalLM(
        Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                    num_attention_heads=2, num_key_value_heads=1, pad_token_id=PAD, eos_token_id=EOS)
    ).eval()  # fmt: skip
    assert sampling.supports(_model(), _config())
    assert not sampling.supports(qwen2, _config())
    with pytest.raises(ValueError, match="unsupported"):
        sampling.generate(qwen2, *_prompts(), _config())


def test_use_for_routes_model_generate_through_the_fast_path_and_keeps_the_tokens(monkeypatch):
    model = _model()
    ids, mask = _prompts()
    gc = _config()
    torch.manual_seed(3)
    expected = model.generate(input_ids=ids, attention_mask=mask, generation_config=gc)
    calls = []
    real = sampling.generate
    monkeypatch.setattr(sampling, "generate", lambda *a, **k: calls.append(1) or real(*a, **k))
    sampling.use_for(model)
    torch.manual_seed(3)
    assert torch.equal(model.generate(input_ids=ids, attention_mask=mask, generation_config=gc), expected)
    assert calls == [1]
    model.generate(input_ids=ids, attention_mask=mask, generation_config=_config(repetition_penalty=1.3))
    assert calls == [1]  # unsupported settings go to transformers' generate

"""Specification of rlscaling.tokenizer: a small byte-level BPE that splits digits, saved so that
AutoTokenizer loads it, with a chat template that renders prompts exactly as pre-training framed them."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from rlscaling import tokenizer as tk
from rlscaling import tokenizer_cli
from rlscaling.data import synthetic as syn
from rlscaling.errors import UserError

CFG = {"n_train": 40, "n_pool_heldout": 0, "n_pretrain": 400, "n_ood": 10}


@pytest.fixture(scope="module")
def data() -> syn.SyntheticData:
    return syn.generate(CFG, seed=0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, data):
    """A tokenizer built through the CLI from a corpus parquet."""
    root = tmp_path_factory.mktemp("tok")
    corpus = root / "corpus.parquet"
    data.corpus.to_parquet(corpus)
    args = argparse.Namespace(
        corpus=str(corpus), params_json='{"vocab_size": 512}', out=str(root / "tokenizer")
    )
    assert tokenizer_cli.main(args) == 0
    return root / "tokenizer"


@pytest.fixture(scope="module")
def tok(saved):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(saved)


def test_autotokenizer_loads_it_with_pad_bos_eos(tok):
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert len(tok) <= 512


def test_every_digit_is_its_own_token(tok):
    pieces = tok.convert_ids_to_tokens(tok("Tom has 1234 apples.\n12+345=357.")["input_ids"])
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digits == list("1234") + list("12") + list("345") + list("357")


def test_encoding_adds_no_special_tokens(tok):
    ids = tok("Tom has 3 pens.")["input_ids"]
    assert tok.bos_token_id not in ids and tok.eos_token_id not in ids


def test_decode_restores_the_text(tok, data):
    for text in data.corpus["text"][:100]:
        assert tok.decode(tok(text)["input_ids"]) == text
    odd = "Ünïcödé ✓ tabs\tand  spaces"
    assert tok.decode(tok(odd)["input_ids"]) == odd  # byte-level: no unknown tokens


def test_chat_prompt_is_bos_question_newline(tok):
    messages = [{"role": "user", "content": "Tom has 3 pens. How many pens does Tom have now?"}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == "<|bos|>Tom has 3 pens. How many pens does Tom have now?\n"


def test_chat_prompt_tokens_are_a_prefix_of_the_pretraining_document(tok, data):
    """What GRPO and evaluation feed the model is exactly how every pre-training document starts."""
    from rlscaling.pretrain import encode_documents

    for prompt, info in zip(data.problems["prompt"], data.problems["extra_info"], strict=False):
        messages = list(prompt)
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
        doc = encode_documents([syn.document(messages[0]["content"], info["solution"])], tok)[0]
        assert doc[: len(ids)] == list(ids)
        assert tok.decode(doc[len(ids) : -1]) == info["solution"] and doc[-1] == tok.eos_token_id


def test_every_levels_worked_solution_fits_in_48_tokens(tok):
    """48 = the default max_response_tokens of training and evaluation (solution + EOS)."""
    import random

    rng = random.Random(0)
    for level in syn.LEVELS:
        longest = max(len(tok(syn.make_problem(rng, level).solution)["input_ids"]) for _ in range(200))
        assert longest + 1 <= 48, level


def test_a_model_folder_loads_the_same_tokenizer(tmp_path, tok, data):
    """TRL calls AutoTokenizer on model folders (config.json: model_type qwen2); it must encode alike."""
    from transformers import AutoTokenizer

    from rlscaling import models

    arch = {
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "intermediate_size": 32,
    }
    models.build(arch, tok).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    texts = data.corpus["text"][:100].tolist()
    assert again(texts)["input_ids"] == tok(texts)["input_ids"]
    assert again.chat_template == tok.chat_template and len(again) == len(tok)


def test_vocab_below_the_byte_alphabet_is_a_user_error():
    with pytest.raises(UserError, match="vocab_size"):
        tk.build(["a"], vocab_size=100)


def test_corpus_without_text_column_is_a_user_error(tmp_path):
    f = tmp_path / "c.parquet"
    pd.DataFrame({"doc": ["x"]}).to_parquet(f)
    with pytest.raises(UserError, match="text"):
        tokenizer_cli.main(argparse.Namespace(corpus=str(f), params_json="{}", out=str(tmp_path / "t")))

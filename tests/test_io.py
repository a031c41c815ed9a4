"""Specification of rlscaling.io's shared readers: the one JSONL reader and the one JSON-safe number."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlscaling.errors import UserError
from rlscaling.io import finite_or_none, read_json_object, read_jsonl


def test_read_jsonl_returns_the_objects_and_skips_blank_lines(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 1}\n\n{"step": 2, "x": null}\n')
    assert read_jsonl(p) == [{"step": 1}, {"step": 2, "x": None}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"step": 1}\n{"step": \n', r"m.jsonl, line 2: not valid JSON"),
        ("[1, 2]\n", r"line 1: expected a JSON object"),
    ],
)
def test_read_jsonl_names_the_file_and_line_of_a_bad_line(tmp_path, text, message):
    p = tmp_path / "m.jsonl"
    p.write_text(text)
    with pytest.raises(UserError, match=message):
        read_jsonl(p)


def test_read_jsonl_of_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_read_json_object_names_the_file_of_a_bad_one(tmp_path):
    p = tmp_path / "fit.json"
    p.write_text('{"law": "paper"}')
    assert read_json_object(p) == {"law": "paper"}
    for text, message in (("{", "fit.json: not valid JSON"), ("[]", "fit.json: expected a JSON object")):
        p.write_text(text)
        with pytest.raises(UserError, match=message):
            read_json_object(p)
    with pytest.raises(UserError, match="does not exist"):
        read_json_object(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        ("2.5", 2.5),
        (np.float32(0.5), 0.5),
        (None, None),
        (True, None),
        ("n/a", None),
        (math.nan, None),
        (-math.inf, None),
        ({}, None),
    ],
)
def test_finite_or_none_keeps_finite_numbers_and_nulls_everything_else(value, expected):
    assert finite_or_none(value) == expected


@pytest.mark.parametrize("reader", [read_jsonl, read_json_object])
def test_a_binary_or_non_utf8_file_is_refused_naming_the_file(tmp_path, reader):
    binary = tmp_path / "metrics.jsonl"
    binary.write_bytes(b'{"step": 1}\n\x00\x01\x02')
    with pytest.raises(UserError, match=r"metrics.jsonl: a binary file; expected"):
        reader(binary)
    latin = tmp_path / "eval.json"
    latin.write_bytes('{"bench": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(UserError, match=r"eval.json: not UTF-8 text \(byte 14\)"):
        reader(latin)

"""rlscaling.curves_table: the curves table's column roles and the checks every reader applies."""

from __future__ import annotations

import ast

import pandas as pd
import pytest

from rlscaling import curves_table
from rlscaling.errors import UserError
from rlscaling.fit.data import grouping_columns
from rlscaling.paths import PROJECT_ROOT

ROLES = (
    "REQUIRED_COLUMNS",
    "STUDY_COLUMNS",
    "MEASUREMENT_COLUMNS",
    "DERIVED_KEY_COLUMNS",
    "NEUTRAL_COLUMNS",
    "REPLICATE_COLUMNS",
    "ROLLOUT_COLUMNS",
    "TAU_COLUMNS",
    "PRETRAIN_COLUMNS",
)


def study_table(**extra: list) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "run": ["a", "a", "b", "b"],
            "size": ["s1", "s1", "s2", "s2"],
            "N": [1e6, 1e6, 4e6, 4e6],
            "step": [0, 10, 0, 10],
            "bench": ["heldout"] * 4,
            "pass_at_1": [0.1, 0.3, 0.2, 0.5],
        }
    )
    for col, values in extra.items():
        df[col] = values
    return df.assign(L=1 - df["pass_at_1"])


def test_column_roles_are_defined_in_the_contract_module_only():
    assigned = []
    for path in sorted((PROJECT_ROOT / "src" / "rlscaling").rglob("*.py")):
        if path.name == "curves_table.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                assigned += [f"{path.name}: {n}" for n in names if n in ROLES]
    assert not assigned, assigned


def test_load_curves_names_the_file_and_the_missing_study_column(tmp_path):
    path = tmp_path / "curves.parquet"
    study_table().drop(columns=["bench"]).to_parquet(path)
    with pytest.raises(UserError, match=r"curves.parquet: missing column `bench`"):
        curves_table.load_curves(path)


def test_load_curves_refuses_a_table_without_rows(tmp_path):
    path = tmp_path / "curves.parquet"
    study_table().iloc[:0].to_parquet(path)
    with pytest.raises(UserError, match="has no rows"):
        curves_table.load_curves(path)


def test_load_curves_applies_check_table(tmp_path):
    path = tmp_path / "curves.parquet"
    study_table(pass_at_2=[0.2, 0.4, 0.1, 0.6]).to_parquet(path)  # row 2: pass@2 below pass@1
    with pytest.raises(UserError, match=r"row 2, run='b', step=0, bench='heldout': `pass_at_2`"):
        curves_table.load_curves(path)


@pytest.mark.parametrize("column", ["pass_at_4", "pass@8", "mean@4", "score_val", "format_rate", "step"])
def test_measurement_names_are_recognised(column):
    assert curves_table.is_measurement(column)


@pytest.mark.parametrize("column", ["size", "bench", "reuse_tau", "rollouts_per_prompt", "model"])
def test_key_names_are_not_measurements(column):
    assert not curves_table.is_measurement(column)


def test_the_fitters_group_curves_by_keys_never_by_measurements_or_derived_keys():
    df = study_table(
        pass_at_4=[0.2, 0.4, 0.3, 0.6],
        format_rate=[0.9, 0.95, 0.8, 0.9],
        model=["s1", "s1", "s2", "s2"],
        reward=["strict", "strict", "flexible", "flexible"],  # a text column naming a sweep's reward
    )
    assert grouping_columns(df) == ["N", "run", "size", "bench", "reward"]

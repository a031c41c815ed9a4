"""Curves tables -> validated arrays for the fitters.

A curves table (rlscaling.curves_table: its columns and their roles) has at least the columns N, step,
C, D, L (L = 1 - pass@1). Rows that share every *grouping* column form one curve. Grouping columns are
all columns except the per-step measurements (step, C, D, L, pass rates, token counts, ...; the
contract's is_measurement) and the derived keys (DERIVED_KEY_COLUMNS): for a study's curves.parquet
that is (study, run, size, family, N, N_nonembed, <sweep variant columns>, bench); for the paper's
CSV it is (family, source, N, size). Without a `run` column, one curve per N and group.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rlscaling.curves_table import DERIVED_KEY_COLUMNS, check_columns, is_measurement, whole_steps
from rlscaling.errors import UserError


def parse_where(items: list[str] | None) -> list[tuple[str, str]]:
    """Parse repeatable `col=value` filters."""
    out = []
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--where {item!r}: expected COLUMN=VALUE")
        col, value = item.split("=", 1)
        out.append((col.strip(), value.strip()))
    return out


def apply_where(df: pd.DataFrame, where: list[tuple[str, str]]) -> pd.DataFrame:
    """Keep rows where every `col == value` (value compared as number when the column is numeric)."""
    for col, value in where:
        if col not in df.columns:
            raise UserError(f"--where {col}={value}: unknown column {col!r} (columns: {sorted(df.columns)})")
        series = df[col]
        if pd.api.types.is_numeric_dtype(series):
            try:
                target = float(value)
            except ValueError as err:
                raise UserError(
                    f"--where {col}={value}: column {col!r} is numeric, {value!r} is not"
                ) from err
            mask = np.isclose(series.to_numpy(dtype=float), target, rtol=1e-9, atol=0)
        else:
            mask = series.astype(str) == value
        df = df[mask]
        if df.empty:
            raise UserError(
                f"--where {col}={value}: no rows left (values of {col!r}: "
                f"{sorted(series.astype(str).unique())[:20]})"
            )
    return df


def grouping_columns(df: pd.DataFrame) -> list[str]:
    """Columns that identify a curve: every non-measurement column that is constant within
    each (N[, run]) group, in table order (N first)."""
    base = ["run"] if "run" in df.columns else ["N"]
    cols = []
    for c in df.columns:
        if c in DERIVED_KEY_COLUMNS:
            continue
        if is_measurement(c):
            # a text column of that name that is constant along every curve is a variant, not a
            # measurement: e.g. `reward` names the reward function of a sweep (strict, flexible)
            text = not pd.api.types.is_numeric_dtype(df[c])
            if not (text and c not in ("metric",) and _constant_within(df, base, c)):
                continue
        if c not in base and c != "N" and pd.api.types.is_float_dtype(df[c]):
            # a float column that varies within a base curve is a measurement, not a key
            if (df.groupby(base, dropna=False)[c].nunique(dropna=False) > 1).any():
                continue
        cols.append(c)
    if "N" in cols:
        cols.remove("N")
        cols.insert(0, "N")
    return cols


def _constant_within(df: pd.DataFrame, base: list[str], c: str) -> bool:
    return bool((df.groupby(base, dropna=False)[c].nunique(dropna=False) <= 1).all())


def size_label(N: float) -> str:
    """'72B', '0.5B', '85M' from a parameter count."""
    if N >= 1e8:
        v = N / 1e9
        unit = "B"
    elif N >= 1e6:
        v = N / 1e6
        unit = "M"
    elif N >= 1e3:
        v = N / 1e3
        unit = "K"
    else:
        return f"{N:g}"
    return f"{v:.3g}{unit}"


@dataclass
class CurveSet:
    """Fit-ready points, sorted by (curve, step).

    Arrays all have shape (n,): N (parameters), X (the law's x: FLOPs for C, prompts for D), L
    (loss = 1 - pass@1, in (0, 1]), step, curve (int index into `labels`). `labels[i]` names
    curve i (the `size` column when present, else e.g. '7B'); `keys[i]` its grouping-column values;
    `curve_N[i]` its N.
    """

    N: np.ndarray
    X: np.ndarray
    L: np.ndarray
    step: np.ndarray
    curve: np.ndarray
    labels: list[str]
    curve_N: np.ndarray
    keys: list[dict[str, Any]] = field(default_factory=list)
    x_name: str = "C"

    @property
    def n_points(self) -> int:
        return int(self.L.size)

    @property
    def n_curves(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> CurveSet:
        """Points where mask is true; curves without points are dropped and re-indexed."""
        mask = np.asarray(mask, dtype=bool)
        kept = np.unique(self.curve[mask])
        remap = -np.ones(self.n_curves, dtype=int)
        remap[kept] = np.arange(kept.size)
        return CurveSet(
            N=self.N[mask],
            X=self.X[mask],
            L=self.L[mask],
            step=self.step[mask],
            curve=remap[self.curve[mask]],
            labels=[self.labels[i] for i in kept],
            curve_N=self.curve_N[kept],
            keys=[self.keys[i] for i in kept] if self.keys else [],
            x_name=self.x_name,
        )

    def take_curves(self, indices: np.ndarray) -> CurveSet:
        """A bootstrap-style resample: curves `indices` (repeats allowed), each copy its own curve."""
        parts = [np.flatnonzero(self.curve == i) for i in indices]
        idx = np.concatenate(parts)
        new_curve = np.concatenate([np.full(p.size, j) for j, p in enumerate(parts)])
        return CurveSet(
            N=self.N[idx],
            X=self.X[idx],
            L=self.L[idx],
            step=self.step[idx],
            curve=new_curve,
            labels=[self.labels[i] for i in indices],
            curve_N=self.curve_N[np.asarray(indices)],
            keys=[self.keys[i] for i in indices] if self.keys else [],
            x_name=self.x_name,
        )


def to_curveset(
    df: pd.DataFrame,
    x: str,
    *,
    min_step: int = 0,
    require_positive_x: bool = True,
    label_column: str | None = None,
) -> CurveSet:
    """Validate and convert a (filtered) curves table to a CurveSet for law variable `x`.

    Drops steps < min_step. Raises UserError for missing columns, NaN / non-positive L or x,
    duplicate steps within a curve, or an empty result.
    """
    if x not in ("C", "D", "step"):
        raise UserError(f"--x {x!r}: expected C or D")
    check_columns(df, ["N", "step", "L"] + ([x] if x != "step" else []))
    df = df.assign(step=whole_steps(df["step"], "curves table", "step", csv=False))
    df = df[df["step"] >= min_step]
    if df.empty:
        raise UserError(f"no rows with step >= {min_step} (--min-step)")
    group_cols = grouping_columns(df)
    for col in ["N", "L", x]:
        vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(vals)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UserError(
                f"column {col!r} has {int(bad.sum())} NaN / non-numeric value(s) "
                f"(first at step {df['step'].iloc[i]})"
            )
    L = df["L"].to_numpy(dtype=float)
    if (L <= 0).any() or (L > 1).any():
        bad = df.loc[(L <= 0) | (L > 1), ["N", "step", "L"]].head(3).to_dict("records")
        raise UserError(f"column 'L' must lie in (0, 1] for a log-log law (L = 1 - pass@1); bad rows: {bad}")
    if L.size > 1 and np.ptp(L) == 0:
        raise UserError(
            f"column 'L' is constant ({L[0]:.4g}) across all {L.size} points: there is no trend to fit "
            "(did the models learn anything? check the evaluations)"
        )
    X = df[x].to_numpy(dtype=float)
    if require_positive_x and (X <= 0).any():
        bad = df.loc[X <= 0, ["N", "step", x]].head(3).to_dict("records")
        raise UserError(
            f"column {x!r} must be > 0 for a log-log law; bad rows: {bad} (drop step 0 with --min-step 1)"
        )
    if (df["N"].to_numpy(dtype=float) <= 0).any():
        raise UserError("column 'N' must be > 0 (parameter count)")

    keys_df = df[group_cols].astype(object).where(df[group_cols].notna(), None) if group_cols else None
    if keys_df is not None and len(group_cols):
        codes = pd.factorize(pd.MultiIndex.from_frame(keys_df.astype(str)), sort=False)[0]
    else:
        codes = np.zeros(len(df), dtype=int)
    # order curves by N then first appearance
    first = pd.DataFrame({"code": codes, "N": df["N"].to_numpy(dtype=float)}).groupby("code")["N"].first()
    order = np.lexsort((first.index.to_numpy(), first.to_numpy()))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    curve = rank[codes]
    steps = df["step"].to_numpy()
    dup = pd.DataFrame({"c": curve, "s": steps}).duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        key = {c: df[c].iloc[i] for c in group_cols}
        raise UserError(
            f"several rows share step {steps[i]} in one curve {key}; add a `run` column "
            "or select one curve per size with --where COL=VALUE"
        )
    sort = np.lexsort((steps, curve))
    n_curves = order.size
    rows_first = [int(np.flatnonzero(curve == i)[0]) for i in range(n_curves)]
    keys = [{c: _py(df[c].iloc[r]) for c in group_cols} for r in rows_first]
    curve_N = np.array([float(df["N"].iloc[r]) for r in rows_first])
    labels = _labels(keys, curve_N, label_column)
    return CurveSet(
        N=df["N"].to_numpy(dtype=float)[sort],
        X=X[sort],
        L=L[sort],
        step=steps[sort].astype(float),
        curve=curve[sort],
        labels=labels,
        curve_N=curve_N,
        keys=keys,
        x_name=x,
    )


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def _labels(keys: list[dict[str, Any]], curve_N: np.ndarray, label_column: str | None) -> list[str]:
    """Short unique curve names: the size name (or '7B'), plus whichever keys differ between curves."""
    base = []
    for k, n in zip(keys, curve_N, strict=True):
        if label_column and label_column in k:
            base.append(str(k[label_column]))
        elif "size" in k and k["size"] is not None:
            base.append(str(k["size"]))
        else:
            base.append(size_label(float(n)))
    if len(set(base)) == len(base):
        return base
    varying = [
        c
        for c in (keys[0] if keys else {})
        if c not in ("N", "size", "N_nonembed", "run") and len({str(k.get(c)) for k in keys}) > 1
    ]
    labels = []
    for b, k in zip(base, keys, strict=True):
        extra = ",".join(f"{c}={k[c]}" for c in varying)
        labels.append(f"{b} [{extra}]" if extra else b)
    if len(set(labels)) < len(labels) and keys and "run" in keys[0]:
        labels = [str(k["run"]) for k in keys]
    return labels


def note(msg: str) -> None:
    """An informational line on stderr (the fit log)."""
    print(f"rlscaling fit: {msg}", file=sys.stderr)

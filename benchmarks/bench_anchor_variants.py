"""Candidate ways to place an unseen size's curve from 1 anchor point, scored as rlscaling.fit.predict
chose its method: each of 7B, 14B and 32B predicted from the sizes below it (paper-parametric fit), the
paper's Qwen2.5 base and instruct curves, X = C and D, sizes <= 32B only (72B is never loaded).

    .venv/bin/python benchmarks/bench_anchor_variants.py [--anchor-points 1] [--bootstrap 100]

Variants (all keep k(N) from the fit; they differ in the level of the unseen curve):
- anchor: the line through the anchor point(s) (predict.CHOSEN);
- extrapolate: E0(N) only;
- neighbor-1 / neighbor-0.5: the anchored line plus the largest fitted size's residuals around its own
  line, step by step (all of that wiggle, or half): do the sizes share step-to-step structure?
- bootstrap-precision: the line at the anchor's X placed at ext + w (anchor - ext), w = v_ext /
  (v_ext + v_point), v_ext the spread of the extrapolated line over a curve bootstrap of the fit and
  v_point the point scatter (MAD) of the two largest fitted sizes around their lines.

Prints R^2 / MAPE per cell (means over the 3 folds), the mean MAPE and the bootstrap weights.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 - after the thread settings above

VARIANTS = ("anchor", "extrapolate", "neighbor-1", "neighbor-0.5", "bootstrap-precision")


def point_variance(model, train) -> float:
    """MAD-based variance (log10 L) of the two largest fitted sizes' points around their own lines."""
    z = np.log10(train.L) + model.k(train.N) * np.log10(train.X)
    e0 = np.bincount(train.curve, z, train.n_curves) / np.bincount(train.curve, minlength=train.n_curves)
    r = (z - e0[train.curve])[np.isin(train.curve, np.argsort(train.curve_N)[-2:])]
    return float((1.4826 * np.median(np.abs(r - np.median(r)))) ** 2)


def fold_predictions(train, test, k: int, n_boot: int, rng) -> dict[str, tuple[np.ndarray, float | None]]:
    """log10 L predicted on the test curve's points after its k anchors, per variant (and its weight)."""
    from rlscaling.fit import predict
    from rlscaling.fit.bootstrap import resample
    from rlscaling.fit.scenarios import anchor_mask

    model = predict._fit(train)
    m = anchor_mask(test, k)
    anc, rest = test.subset(m), test.subset(~m)
    Nt = float(test.curve_N[0])
    kt = float(model.k(Nt))
    lxa = float(np.mean(np.log10(anc.X)))
    lxr = np.log10(rest.X)
    y_obs = float(np.mean(np.log10(anc.L) + kt * (np.log10(anc.X) - lxa)))  # the anchor line at lxa
    y_ext = float(model.E0_of_N(Nt)) - kt * lxa
    out: dict[str, tuple[np.ndarray, float | None]] = {
        "anchor": (y_obs - kt * (lxr - lxa), None),
        "extrapolate": (y_ext - kt * (lxr - lxa), None),
    }
    big = train.subset(np.isclose(train.curve_N[train.curve], train.curve_N.max()))
    zb = np.log10(big.L) + model.k(big.N) * np.log10(big.X)
    resid = dict(zip(big.step.tolist(), (zb - zb.mean()).tolist(), strict=True))
    r_all = np.array([resid.get(s, 0.0) for s in test.step])
    za = np.log10(anc.L) + kt * np.log10(anc.X)
    for frac in (1.0, 0.5):
        e0 = float(np.mean(za - frac * r_all[m]))
        out[f"neighbor-{frac:g}"] = (e0 - kt * lxr + frac * r_all[~m], None)
    ys = []
    for _ in range(n_boot):
        try:
            mb = predict._fit(resample(train, "curve", rng))
        except Exception:  # noqa: BLE001 - a resample below the law's minimum: skip it
            continue
        ys.append(float(mb.E0_of_N(Nt)) - float(mb.k(Nt)) * lxa)
    v_ext = float(np.var(ys)) if len(ys) > 1 else np.inf
    w = v_ext / (v_ext + point_variance(model, train) / k)
    out["bootstrap-precision"] = (y_ext + w * (y_obs - y_ext) - kt * (lxr - lxa), w)
    return out, rest


def main(argv: list[str] | None = None) -> int:
    from rlscaling.curves_import import import_paper
    from rlscaling.fit import predict
    from rlscaling.fit.data import to_curveset
    from rlscaling.fit.metrics import summary
    from rlscaling.paths import shared_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchor-points", type=int, default=1)
    ap.add_argument("--bootstrap", type=int, default=100)
    args = ap.parse_args(argv)
    table = import_paper(shared_data_dir() / "paper" / "holdout_per_step_qwen_llama.csv")
    table = table[table["N"] <= 32e9 * (1 + 1e-9)]  # 72B is never loaded
    cells = [(s, x) for s in ("base", "instruct") for x in ("C", "D")]
    scores = {v: {c: [] for c in cells} for v in VARIANTS}
    weights: dict = {c: [] for c in cells}
    rng = np.random.default_rng(0)
    for cell in cells:
        cs = to_curveset(table[table["source"] == cell[0]], cell[1], min_step=1)
        sizes = np.unique(cs.curve_N)
        for j in range(predict.MIN_BELOW, sizes.size):
            train = cs.subset(cs.curve_N[cs.curve] < sizes[j])
            test = cs.subset(np.isclose(cs.curve_N[cs.curve], sizes[j]))
            preds, rest = fold_predictions(train, test, args.anchor_points, args.bootstrap, rng)
            for v, (y, w) in preds.items():
                h = summary(rest.L, 10.0**y)
                scores[v][cell].append((h["r2"], h["mape"]))
                if w is not None:
                    weights[cell].append(round(w, 3))
    print(f"folds 7B/14B/32B from the sizes below (sizes <= 32B), {args.anchor_points} anchor point(s)")
    print("variant              " + " ".join(f"{s} {x}".ljust(16) for s, x in cells) + "mean MAPE")
    for v in VARIANTS:
        row = [f"{np.mean([a for a, _ in scores[v][c]]):6.3f} / {np.mean([b for _, b in scores[v][c]]):.2f}%"
               for c in cells]  # fmt: skip
        mean = np.mean([np.mean([b for _, b in scores[v][c]]) for c in cells])
        print(f"{v:20s} " + " ".join(r.ljust(16) for r in row) + f"{mean:.2f}%")
    print("bootstrap-precision weights on the anchor (folds 7B, 14B, 32B):", weights)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

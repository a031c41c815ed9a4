"""Speed of the fitting suite on the paper's curves: every curve set (Qwen2.5 base and instruct,
Llama-3 instruct; X = C and X = D), paper law, full scenario, with bootstrap intervals.

    .venv/bin/python benchmarks/bench_fit.py [--bootstrap 1000] [--jobs 2] [--objective default]
                                             [--unit curve] [--law paper]

    .venv/bin/python benchmarks/bench_fit.py --calibrate [--sources base] [--bootstrap 200]

Target: all six fits with 1,000 bootstrap resamples in at most 60 s on 2 cores.
Prints one row per fit (points, K_max, N0 and their 95 % intervals, seconds) and the total with the
machine's load average (other jobs sharing the cores slow it down). Needs the reference data
(../shared/data/paper, or RLSCALING_SHARED_DATA).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as `rlscaling fit` does: BLAS threads only add contention here


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--objective", default="default")
    ap.add_argument("--unit", default="curve", choices=["auto", "curve", "block"])
    ap.add_argument("--law", default="paper", choices=["paper", "paper-parametric"])
    ap.add_argument(
        "--sources",
        nargs="+",
        default=["base", "instruct", "llama-instruct"],
        help="curve sets of the paper's CSV (default: all of them)",
    )
    ap.add_argument(
        "--predictions",
        action="store_true",
        help="instead: the prediction table (72B held out; intra from 10/25/50 %% of steps), "
        "ours vs the paper's method on the same points",
    )
    ap.add_argument(
        "--select",
        action="store_true",
        help="instead: choose the unseen-size method by extrapolation folds on sizes <= 32B "
        "(rlscaling.fit.predict.select_variant), then score the chosen one on 72B with 0/1/3 anchors",
    )
    ap.add_argument(
        "--calibrate",
        action="store_true",
        help="instead: time `rlscaling calibrate` (inter and intra folds, X = C) on each --sources set "
        "(target: <= 60 s per data set on 2 cores; --bootstrap refits per fold, default here 200)",
    )
    args = ap.parse_args(argv)
    if args.calibrate:
        return calibrate_timing(args.sources, 200 if args.bootstrap == 1000 else args.bootstrap)
    if args.predictions:
        return predictions()
    if args.select:
        return select()

    from rlscaling.curves_import import import_paper
    from rlscaling.fit.run import FitRequest, run_fit
    from rlscaling.paths import shared_data_dir

    src = shared_data_dir() / "paper" / "holdout_per_step_qwen_llama.csv"
    if not src.is_file():
        print(f"reference data not found: {src}", file=sys.stderr)
        return 1
    table = import_paper(src)
    load0 = os.getloadavg()[0]
    t_all = time.perf_counter()
    head = ("source", "x", "pts", "K_max", "95% CI", "N0/1e9", "95% CI", "s")
    print("{:9s} {:2s} {:>4s} {:>7s} {:>17s} {:>7s} {:>15s} {:>6s}".format(*head))
    for source in args.sources:
        for x in ("C", "D"):
            req = FitRequest(
                law=args.law,
                x=x,
                scenario="full",
                objective=args.objective,
                where=[("source", source)],
                min_step=1,
                bootstrap=args.bootstrap,
                bootstrap_unit=args.unit,
                seed=0,
                jobs=args.jobs,
            )
            t0 = time.perf_counter()
            fit = run_fit(table, req)
            dt = time.perf_counter() - t0
            p, ci = fit["params"], fit["ci95"] or {}
            kci = ci.get("K_max") or [float("nan")] * 2
            nci = ci.get("N0") or [float("nan")] * 2
            print(
                f"{source:9s} {x:2s} {fit['n_points']:4d} {p['K_max']:7.4f} [{kci[0]:.4f}, {kci[1]:.4f}] "
                f"{p['N0'] / 1e9:7.2f} [{nci[0] / 1e9:5.2f}, {nci[1] / 1e9:5.2f}] {dt:6.2f}"
            )
    total = time.perf_counter() - t_all
    print(
        f"total: {total:.1f} s for {2 * len(args.sources)} fits x {args.bootstrap} bootstrap resamples "
        f"({args.jobs} process{'es' if args.jobs > 1 else ''}, objective {args.objective}, "
        f"unit {args.unit}); 1-min load average {load0:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs"
    )
    return 0


def calibrate_timing(sources: list[str], n_boot: int) -> int:
    """Seconds of one `rlscaling calibrate` per paper data set, with its coverage and widths."""
    from rlscaling.curves_import import import_paper
    from rlscaling.fit.calibrate import calibrate
    from rlscaling.fit.data import to_curveset
    from rlscaling.fit.interval import IntervalOptions
    from rlscaling.paths import shared_data_dir

    table = import_paper(shared_data_dir() / "paper" / "holdout_per_step_qwen_llama.csv")
    print("source          s  inter 80% / 95% / width  intra 80% / 95% / width")
    for source in sources:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        cs = to_curveset(table[table["source"] == source], "C", min_step=1)
        res = calibrate(cs, IntervalOptions(n_boot=n_boot))
        dt = time.perf_counter() - t0
        cells = []
        for sc in ("inter", "intra"):
            c = res["coverage"][sc]
            cells.append(f"{c['0.8']:.2f} / {c['0.95']:.2f} / {res['width95_rel_median'][sc]:.1%}")
        print(f"{source:14s} {dt:5.1f}  " + "   ".join(cells) + f"   (load {load0:.2f} before)")
    return 0


def predictions() -> int:
    """Held-out R^2 / MAPE: paper-parametric (default objective) and the paper law with our default
    objective, against the paper's method (paper law, paper objective; for 72B its intercept
    extrapolated in log N, and for reference refitted on the 72B curve itself)."""
    from rlscaling.curves_import import import_paper
    from rlscaling.fit import kn
    from rlscaling.fit.data import to_curveset
    from rlscaling.fit.metrics import summary
    from rlscaling.fit.scenarios import split
    from rlscaling.paths import shared_data_dir

    table = import_paper(shared_data_dir() / "paper" / "holdout_per_step_qwen_llama.csv")

    def cell(m: dict) -> str:
        return f"{m['r2']:7.3f} {m['mape']:5.2f}%"

    print(
        "scenario      source   x | parametric (ours) | paper law, ours  | paper method     | paper+E0 refit*"
    )
    for scenario, kw in [
        ("inter 72B", {"holdout_N": [72e9]}),
        ("intra 10%", {"fit_fraction": 0.10}),
        ("intra 25%", {"fit_fraction": 0.25}),
        ("intra 50%", {"fit_fraction": 0.50}),
    ]:
        for source in ("base", "instruct"):
            for x in ("C", "D"):
                cs = to_curveset(table[table["source"] == source], x, min_step=1)
                sp = split(cs, "inter" if scenario.startswith("inter") else "intra", **kw)
                ours = kn.fit_kn(sp.train, law="paper-parametric")
                ours_free = kn.fit_kn(sp.train, law="paper")
                paper = kn.fit_kn(sp.train, law="paper", objective="paper")
                row = [cell(summary(sp.test.L, f.predict(sp.test))) for f in (ours, ours_free, paper)]
                if scenario.startswith("inter"):
                    paper.E0.update(kn.refit_E0(paper, sp.test, "paper"))
                    row.append(cell(summary(sp.test.L, paper.predict(sp.test))))
                else:
                    row.append("")
                print(f"{scenario:13s} {source:8s} {x} | " + " | ".join(row))
    print("R^2 (linear L) and MAPE on the held-out points. * uses the held-out curve's own losses.")
    print(
        "paper law, ours: E0 free per size (cannot predict an unseen size; its inter column "
        "extrapolates E0 in log N like the paper method)"
    )
    return 0


def select() -> int:
    """The method choice (sizes <= 32B only) and the chosen method's 72B table."""
    from rlscaling.curves_import import import_paper
    from rlscaling.fit import predict
    from rlscaling.fit.data import to_curveset
    from rlscaling.fit.scenarios import split
    from rlscaling.paths import shared_data_dir

    table = import_paper(shared_data_dir() / "paper" / "holdout_per_step_qwen_llama.csv")
    cells = [(s, x) for s in ("base", "instruct") for x in ("C", "D")]
    sets = {c: to_curveset(table[table["source"] == c[0]], c[1], min_step=1) for c in cells}
    for k in (1, 3):
        print(f"choice: extrapolation folds 7B/14B/32B from the sizes below, sizes <= 32B, {k} anchor(s)")
        print("variant      " + " ".join(f"{s} {x}".ljust(15) for s, x in cells) + " mean MAPE")
        scores = {c: predict.select_variant(sets[c], k, max_N=32e9) for c in cells}
        for v in predict.VARIANTS:
            row = [f"{scores[c][v]['r2']:6.3f} / {scores[c][v]['mape']:.2f}%" for c in cells]
            mean = sum(scores[c][v]["mape"] for c in cells) / len(cells)
            print(f"{v:12s} " + " ".join(r.ljust(15) for r in row) + f" {mean:.2f}%")
    print(
        f"\nchosen: {predict.CHOSEN}; 72B predicted from 0.5B-32B, R^2 / MAPE on the points after the anchors"
    )
    for k in (0, 1, 3):
        row = []
        for c in cells:
            sp = split(sets[c], "inter", holdout_N=[72e9])
            h = predict.predict_heldout(sp.train, sp.test, k, predict.CHOSEN)["heldout"]
            row.append(f"{h['r2']:6.3f} / {h['mape']:.2f}%")
        print(f"{k} anchor(s)  " + " ".join(r.ljust(15) for r in row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

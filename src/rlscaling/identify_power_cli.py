"""`rlscaling identify-power`: how often a design identifies K_max and N0, simulated from replicated
studies' own noise (rlscaling.identify_power)."""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from pathlib import Path

from rlscaling.errors import UserError
from rlscaling.fit.power import CENTRES, run_designs
from rlscaling.identify_power import (
    figure,
    markdown,
    measure,
    pooled_check,
    pooled_text,
    spread_sources,
)
from rlscaling.io import write_json, write_text

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("studies", nargs="+", type=Path, help="study folders with curves.parquet (replicated)")
    p.add_argument("--replicates", default="3,6,12", help="replicates per size to simulate (comma list)")
    p.add_argument("--spans", default="0,60", help="N spans to simulate; 0 = the studies' own sizes")
    p.add_argument("--centre", default="smallest", choices=CENTRES,
                   help="where a span's 4 log-even sizes sit: from the smallest size up, or around N0")
    p.add_argument("--run-noise-scale", type=float, default=1.0,
                   help="sigma_run times this: what steadier RL runs (larger batches, smaller lr) would buy")
    p.add_argument("--point-noise-scale", type=float, default=1.0,
                   help="sigma_eps times this: what more evaluation samples would buy")
    p.add_argument("--pooled-max", type=int, default=10,
                   help="the pooled check: at most this many pools per m (0: skip it)")
    p.add_argument("--sims", type=int, default=40, help="simulated studies per design")
    p.add_argument("--bootstrap", type=int, default=200, help="resamples per fit (the study's fit.bootstrap)")
    p.add_argument("--jobs", type=int, default=2, help="processes for the simulated fits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results") / "identify_power", help="output folder")


def main(a: argparse.Namespace) -> int:
    """Measure, simulate, write OUT/identify_power.{json,md,png,pdf}; UserError on bad input."""
    try:
        replicates = [int(x) for x in a.replicates.split(",")]
        spans = [float(x) for x in a.spans.split(",")]
    except ValueError:
        raise UserError("--replicates and --spans: comma-separated numbers, e.g. 3,6,12 and 0,60") from None
    if any(r < 2 for r in replicates) or any(s != 0 and s <= 1 for s in spans):
        raise UserError("--replicates: each >= 2 (a bootstrap over seeds); --spans: 0 or > 1")
    if a.run_noise_scale < 0 or a.point_noise_scale < 0 or a.pooled_max < 0:
        raise UserError("--run-noise-scale, --point-noise-scale, --pooled-max: expected >= 0")
    if a.sims < 1 or a.bootstrap < 2 or a.jobs < 1:
        raise UserError("--sims >= 1, --bootstrap >= 2 and --jobs >= 1 expected")
    noise = measure(a.studies, a.seed)
    spread = spread_sources(a.studies)
    noise = replace(noise, sigma_run=noise.sigma_run * a.run_noise_scale,
                    sigma_eps=noise.sigma_eps * a.point_noise_scale)  # fmt: skip
    rows = run_designs(noise, replicates, spans, a.sims, a.bootstrap, a.jobs, a.seed, a.centre)
    pooled = pooled_check(a.studies, a.bootstrap, a.jobs, a.seed, a.pooled_max) if a.pooled_max else []
    a.out.mkdir(parents=True, exist_ok=True)
    record = {"noise": asdict(noise), "slope_spread": asdict(spread) | {"shares": spread.shares()},
              "run_noise_scale": a.run_noise_scale, "point_noise_scale": a.point_noise_scale, "designs": rows,
              "pooled_check": pooled,
              "studies": [str(d) for d in a.studies]}  # fmt: skip
    write_json(a.out / "identify_power.json", record)
    text = markdown(noise, rows, a.studies, a.run_noise_scale, spread, a.point_noise_scale)
    if pooled:
        text += "\n" + pooled_text(pooled)
    write_text(a.out / "identify_power.md", text)
    figure(rows, a.out)
    print(text)
    return 0

"""benchmarks/robustness.py (`make robustness`): its tables, from studies on disk."""

import importlib.util

import pandas as pd

from rlscaling.paths import PROJECT_ROOT
from rlscaling.report import pooled_slope

_spec = importlib.util.spec_from_file_location("robustness", PROJECT_ROOT / "benchmarks" / "robustness.py")
robustness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(robustness)


def replicated_curves(gains: dict[str, list[float]], base: float = 0.3) -> pd.DataFrame:
    """Held-out pass@1 at steps 0 and 10: replicate k of size s goes from `base` to base + gains[s][k]."""
    n_of = {"xs": 1e4, "s": 1e5}
    rows = []
    for size, size_gains in gains.items():
        for k, gain in enumerate(size_gains):
            for step, p1 in ((0, base), (10, base + gain)):
                rows.append({"run": f"{size}__rep-{k}", "size": size, "N": n_of[size], "step": step,
                             "bench": "heldout", "pass_at_1": p1, "L": 1 - p1, "replicate": k})  # fmt: skip
    return pd.DataFrame(rows)


def test_per_size_rows_are_means_with_standard_errors_over_replicates(tmp_path):
    replicated_curves({"s": [0.10, 0.20], "xs": [0.05, 0.05]}).to_parquet(tmp_path / "curves.parquet")
    rows = robustness.size_rows(tmp_path)
    assert [r["size"] for r in rows] == ["xs", "s"]  # by N
    s = rows[1]
    assert s["runs"] == 2 and abs(s["gain"] - 0.15) < 1e-9 and abs(s["gain_se"] - 0.05) < 1e-9


def test_the_markdown_has_a_per_size_column_per_seed_and_dashes_for_a_missing_size(tmp_path):
    replicated_curves({"xs": [0.05, 0.07], "s": [0.10, 0.20]}).to_parquet(tmp_path / "curves.parquet")
    both = robustness.size_rows(tmp_path)
    results = [{"seed": 3, "checks": [], "fits": [], "sizes": both},
               {"seed": 4, "checks": [], "fits": [], "sizes": both[:1]}]  # fmt: skip
    text = robustness.markdown(results)
    row = next(line for line in text.splitlines() if line.startswith("| s |"))
    assert "| seed 3 | seed 4 |" in text
    assert "0.300 ± 0.000 → 0.450 ± 0.050 (+0.150 ± 0.050)" in row and row.endswith("| – |")


def test_the_figure_is_drawn_from_the_studies_on_disk_and_skipped_without_any(tmp_path):
    study = tmp_path / "study"
    study.mkdir()
    replicated_curves({"xs": [0.05, 0.07], "s": [0.10, 0.20]}).to_parquet(study / "curves.parquet")
    paths = robustness.figure([{"seed": 3, "study_dir": str(study)}], tmp_path / "robustness")
    assert [p.name for p in paths] == ["robustness.png", "robustness.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert robustness.figure([{"seed": 4, "study_dir": str(tmp_path / "absent")}], tmp_path / "none") == []


def test_pretraining_rows_are_per_size_means_of_the_base_models_heldout_loss(tmp_path):
    import json

    losses = {("xs", 0): 0.50, ("xs", 1): 0.54, ("s", 0): 0.49, ("s", 1): 0.49}
    n_of = {"xs": 5e4, "s": 1e5}
    for (size, rep), loss in losses.items():
        d = tmp_path / "models" / size / f"rep{rep}"
        d.mkdir(parents=True)
        rec = {"N": n_of[size], "tokens": 2_000_000, "heldout_loss": loss}
        (d / "pretrain.json").write_text(json.dumps(rec))
    rows = robustness.pretrain_rows(tmp_path)
    assert [(r["size"], r["models"], r["tokens_per_param"]) for r in rows] == [
        ("xs", 2, 40.0),
        ("s", 2, 20.0),
    ]
    assert abs(rows[0]["heldout_loss"] - 0.52) < 1e-9 and abs(rows[0]["heldout_loss_se"] - 0.02) < 1e-9
    text = robustness.markdown([{"seed": 1, "checks": [], "fits": [], "sizes": [], "pretraining": rows}])
    assert "| xs | 40.0 | 0.520 ± 0.020 |" in text


def test_the_pooled_slope_fits_one_intercept_per_seed_and_matches_least_squares_with_dummies():
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.log10([5e4, 1e5, 5e5, 8e5] * 3)
    groups = [(x[:4], 0.6 - 0.2 * x[:4] + rng.normal(0, 0.02, 4)),
              (x[4:8], 1.6 - 0.2 * x[4:8] + rng.normal(0, 0.02, 4)),  # a seed one whole unit worse
              (x[8:], 0.1 - 0.2 * x[8:] + rng.normal(0, 0.02, 4))]  # fmt: skip
    t = pooled_slope(groups)
    design = np.column_stack([np.concatenate([gx for gx, _ in groups]), np.kron(np.eye(3), np.ones((4, 1)))])
    coef = np.linalg.lstsq(design, np.concatenate([gy for _, gy in groups]), rcond=None)[0]
    assert abs(t["slope"] - coef[0]) < 1e-12 and t["dof"] == 12 - 3 - 1
    assert abs(t["slope"] + 0.2) < 0.03 and t["ci95"][1] < 0
    # one line through all runs: the seeds' offsets land in its residuals and its interval spans 0
    one_line = pooled_slope([(np.concatenate([gx for gx, _ in groups]),
                                         np.concatenate([gy for _, gy in groups]))])  # fmt: skip
    assert one_line["ci95"][0] < 0 < one_line["ci95"][1]


def test_the_pooled_slope_is_none_below_its_degrees_of_freedom_or_without_spread_in_x():
    assert pooled_slope([([4.0, 5.0, 6.0], [0.5, 0.4, 0.2])], min_dof=1)["dof"] == 1  # report's trend: 3 runs
    assert pooled_slope([([4.0, 5.0, 6.0], [0.5, 0.4, 0.2])], min_dof=2) is None  # robustness: 2 at least
    assert pooled_slope([([4.0, 4.0, 4.0, 4.0], [0.5, 0.4, 0.3, 0.2])]) is None

"""benchmarks/robustness.py (`make robustness`): its tables, from studies on disk."""

import importlib.util

import pandas as pd

from rlscaling.paths import PROJECT_ROOT

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

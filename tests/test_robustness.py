"""`rlscaling robustness` (rlscaling.robustness, `make robustness`): its tables, from studies on disk."""

import json

import pandas as pd
import yaml

from rlscaling import robustness
from rlscaling.cli import main as cli_main
from rlscaling.report.stats import pooled_slope


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


def write_seed(project, seed: int, verdicts: list[str], warnings: list[str] = ()) -> None:
    """A finished study of seed `seed` under project/results: its curves and its checks.json."""
    study = project / "results" / f"t-seed{seed}"
    study.mkdir(parents=True)
    replicated_curves({"xs": [0.05, 0.07], "s": [0.10, 0.20]}).to_parquet(study / "curves.parquet")
    checks = [{"check": f"claim {i}", "verdict": v, "detail": f"why {i}"} for i, v in enumerate(verdicts)]
    (study / "checks.json").write_text(json.dumps({"checks": checks, "design_warnings": list(warnings)}))


def project_dir(tmp_path):
    (tmp_path / "Snakefile").write_text("")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"study": "t"}))
    return tmp_path


def test_the_table_shows_every_verdict_per_seed_and_exits_1_only_on_a_fail(tmp_path, capsys):
    project = project_dir(tmp_path)
    write_seed(project, 1, ["pass", "undetermined"], ["base pass@1 outside [0.05, 0.60]: l 0.613"])
    write_seed(project, 2, ["pass", "FAIL"])
    argv = ["robustness", "--directory", str(project), "--table-only"]
    assert cli_main([*argv, "--seeds", "1"]) == 0  # undetermined is no failure
    assert cli_main([*argv, "--seeds", "1,2"]) == 1
    text = (project / "results" / "robustness" / "robustness.md").read_text()
    assert "| claim 1 | undetermined | **FAIL** |" in text and "| FAIL verdicts | 0 | 1 |" in text
    assert "- seed 1: base pass@1 outside [0.05, 0.60]: l 0.613" in text
    assert "- seed 1, undetermined, claim 1: why 1" in text and "- seed 2, FAIL, claim 1: why 1" in text
    saved = json.loads((project / "results" / "robustness" / "robustness.json").read_text())
    assert [r["verdicts_from"] for r in saved] == ["checks.json", "checks.json"]


def test_a_seed_without_a_finished_study_is_reported_and_exits_2(tmp_path, capsys):
    project = project_dir(tmp_path)
    assert cli_main(["robustness", "--directory", str(project), "--table-only", "--seeds", "7"]) == 2
    assert "- seed 7: " in (project / "results" / "robustness" / "robustness.md").read_text()


def test_robustness_outside_a_project_folder_is_a_user_error(tmp_path, capsys):
    assert cli_main(["robustness", "--directory", str(tmp_path), "--table-only"]) == 2
    assert "no Snakefile" in capsys.readouterr().err


def test_a_stopped_robustness_run_takes_its_snakemake_and_jobs_down(tmp_path):
    """SIGTERM to `rlscaling robustness` reaches the study's Snakemake and its running job: none is
    left, and the command exits 128 + 15."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "Snakefile").write_text('rule all:\n    shell: "sleep 319"\n')
    (tmp_path / "config.yaml").write_text("study: stop\n")
    (tmp_path / "profiles" / "local").mkdir(parents=True)
    (tmp_path / "profiles" / "local" / "config.yaml").write_text("printshellcmds: true\n")

    def sleepers() -> list[str]:
        return subprocess.run(["pgrep", "-f", "^sleep 319$"], capture_output=True, text=True).stdout.split()

    cmd = [sys.executable, "-m", "rlscaling", "robustness", "--seeds", "1", "--directory", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not sleepers() and time.time() < deadline:
        time.sleep(0.2)
    assert sleepers(), (tmp_path / "results" / "robustness" / "seed1.log").read_text()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=90) == 128 + signal.SIGTERM
    assert not sleepers()

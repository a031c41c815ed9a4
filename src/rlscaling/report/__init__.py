"""Stage 7 (text): summary.md, the study's tables and checks in one Markdown file.

    rlscaling report --study-dir S --curves S/curves.parquet --fits S/fits/A.json ... -o S/summary.md

Sections:
- study table: per run, size, N, N_nonembed, base pass@1 (step 0) and final pass@1 on the main
  benchmark (`heldout`, else the first one), the gain, pass@k at the final step, pre-training FLOPs
  and RL FLOPs (final cumulative C);
- per-size table: base, final pass@1, gain and final L per size as mean ± standard error over the
  size's replicates (runs of a study with `replicates` > 1; one run: the value alone);
- per-benchmark table: base vs final pass@1 of every run on every benchmark;
- fit table: one row per fit JSON (law, x, scenario, K_max and N0 with 95% intervals, R^2 linear and
  log, points, held-out error of prediction scenarios);
- checks: every claim the study makes, with a three-valued verdict (rlscaling.verdicts): pass (the
  data support it at 95%), FAIL (the data contradict it), undetermined (the data cannot decide:
  the interval straddles the line, there is none, or an optimizer bound cuts it), n/a (the study
  cannot pose it). Judged with the replicates' error where the study has replicates:
  RL gain per size: 95% interval above 0 and mean >= 0.05 (Student t with the replicates' variance
  pooled over sizes: Σ (runs per size - 1) degrees of freedom), FAIL when the interval lies wholly
  below 0.05; final loss falling with N as a trend (least-squares slope of every run's final L on
  log10 N: 95% interval below 0, FAIL above 0); k(N) rising with N (K_max's 95% interval above 0,
  k(N) = K_max·N/(N+N0); FAIL when the runs' own slopes of log10 L on log10 C fall with N at 95%);
  K_max and N0 identified (intervals clear of the fit's optimizer bounds, not of zero width: pass or
  undetermined; an undetermined one states the replicates per size that would decide it and the
  identification rate with its Wilson interval, from a small power simulation of the study's own
  noise, rlscaling.fit.power); every fit's R^2 >= 0.9 (a value without interval: FAIL below);
- design warnings, apart from the verdicts: a size's mean base pass@1 outside [0.05, 0.60], a
  benchmark whose mean final pass@1 is below 0.05, one run per size;
- the data stage's record (scalar entries of S/data/report.json), when present;
- wall time per stage, summed from Snakemake's benchmark files S/benchmarks/**/*.tsv;
- links to the figures S/figures/*.png that exist.

`--checks-json S/checks.json` writes the same verdicts as JSON (atomically): {study, summary, checks:
[{check, verdict, detail, power?}], design_warnings, counts}. `rlscaling report --check S` (a study
folder, its checks.json or its summary.md) prints every verdict and exits 1 when one is FAIL, 0
otherwise (pass, undetermined, n/a): for CI, after the study.

The package: `stats` (t quantile, mean and standard error, pooled error and slope), `runs` (the
curves table per run and per size on one benchmark), `tables` (cells and Markdown tables), `timing`
(seconds per stage and the critical path, from Snakemake's benchmark files), `checks` (the verdicts
and design warnings), `checks_file` (a study's verdicts read back from checks.json or summary.md),
`summary` (summary.md) and `cli` (the command).
"""

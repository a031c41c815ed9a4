# Two commands on a fresh machine (README.md):
#   make study   install, then run the embedded default study to figures, summary.md and report.html
#   make test    install, then run the test suite (what .ci/run calls)
VENV ?= .venv
PY := $(VENV)/bin/python
STUDY ?= default
CORES ?= 2

.PHONY: setup engines-venv slurm-profile study report test dryrun clean-study

setup: $(VENV)/.installed

# torch first, pinned: the CPU build; an unpinned torch pulls several GB of CUDA. The editable install
# holds .install.lock, as scripts/install_engines_venv.sh does: `make -j2 setup engines-venv` (CI) would
# otherwise have two builds writing src/rlscaling.egg-info at once
$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	flock .install.lock $(PY) -m pip install --quiet -e '.[dev,cluster,tracking]'
	touch $@

# verl 0.9.1 (CPU) in its own venv, .venv-engines: the verl tests run verl's own code there (they skip
# without it). Needs transformers<5.11, so it cannot share .venv.
engines-venv: .venv-engines/.installed

.venv-engines/.installed: scripts/install_engines_venv.sh
	scripts/install_engines_venv.sh
	touch $@

# once per user on a Slurm login node: `snakemake --profile slurm all` then finds profiles/slurm by name
# (Snakemake looks for named profiles in ./, $XDG_CONFIG_HOME/snakemake (default ~/.config/snakemake) and
# the site directory, never in profiles/)
SNAKEMAKE_CONFIG_DIR ?= $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/snakemake
slurm-profile:
	scripts/install_slurm_profile.sh "$(SNAKEMAKE_CONFIG_DIR)"

study: setup
	$(VENV)/bin/snakemake --profile profiles/local --cores $(CORES) all
	$(VENV)/bin/snakemake --cores 1 --report results/$(STUDY)/report.html

dryrun: setup
	$(VENV)/bin/snakemake --profile profiles/local --cores $(CORES) -n all

# one pytest worker per core (pytest-xdist); --dist loadscope keeps a module's tests on one worker, so a
# module-scoped fixture (a whole mini study) runs once. TEST_WORKERS=0: one process, in order
TEST_WORKERS ?= auto
test: setup
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadscope

# every real-engine test: verl's own config / reward manager / file logger / defaults (marker verl; `make
# test` runs them too where .venv-engines exists), and verl training + vLLM evaluation running for real
# on the CPU (marker engines, tests/test_engines.py, ~21 min on 2 cores); none may skip
# (CI runs the verl-marked ones in `make test` and then TEST_ENGINES_MARK=engines here)
TEST_ENGINES_MARK ?= engines or verl
.PHONY: test-engines
test-engines: setup engines-venv
	RLSCALING_REQUIRE_ENGINES=1 $(VENV)/bin/pytest -m "$(TEST_ENGINES_MARK)"

# the workflow against Snakemake's best practices and snakefmt's format, the code against ruff
# (pyproject.toml), and the docs: mkdocs --strict fails on a broken link or anchor
.PHONY: lint
lint: setup
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check .
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir $$(mktemp -d)

# the documentation site (mkdocs + Material) in site/; `.venv/bin/mkdocs serve` serves it live
.PHONY: docs
docs: setup
	$(VENV)/bin/mkdocs build --strict

# the default study for study seeds 0, 1, 2 (each in results/<study>-seed<k>/), then the verdict of every
# check (pass / FAIL / undetermined) and the fitted K_max / N0 with intervals per seed:
# results/robustness/robustness.md (`rlscaling robustness`, docs/guides/verdicts.md). One full study per
# seed (about 30 min each on 2 cores). ROBUSTNESS_ARGS: e.g. --seeds 11,12,13, --table-only,
# --configfile workflow/presets/tiny-shared.yaml. Exits 1 when a seed has a FAIL verdict
.PHONY: robustness
robustness: setup
	$(VENV)/bin/rlscaling robustness --cores $(CORES) $(ROBUSTNESS_ARGS)

# how often a design (replicates per size, span of N) would identify K_max and N0, simulated from the
# noise measured on replicated studies on disk (e.g. those `make robustness` wrote); no training, a few
# minutes: results/identify_power/identify_power.md and .png (`rlscaling identify-power`).
# IDENTIFY_STUDIES: the study folders.
IDENTIFY_STUDIES ?= $(wildcard results/default-seed*)
.PHONY: identify-power
identify-power: setup
	@test -n "$(IDENTIFY_STUDIES)" || { echo "make identify-power: no study in results/default-seed*: run make robustness first, or set IDENTIFY_STUDIES to replicated study folders" >&2; exit 2; }
	$(VENV)/bin/rlscaling identify-power $(IDENTIFY_STUDIES) --jobs $(CORES) $(IDENTIFY_ARGS)

# how close the default study (or STUDY's) runs to this machine's limit: fp32 matmul peak, each stage's
# FLOP/s against it, each job kind's fixed cost, job-seconds per replicate (results/bench_study/); runs the
# study first when it is not complete. BENCH_CONFIG: extra --configfile arguments for snakemake
.PHONY: bench-study
bench-study: setup
	$(VENV)/bin/snakemake --profile profiles/local --cores $(CORES) $(BENCH_CONFIG) all
	$(PY) benchmarks/bench_study.py results/$(STUDY) --out results/bench_study/$(STUDY)

clean-study:
	rm -rf results/$(STUDY)

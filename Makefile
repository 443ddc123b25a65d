# The two commands of the README: `make run` (the default study) and `make test`.
# GPU cluster: torch 2.13.0 from the package index is a CUDA build on Linux x86_64; if your
# driver needs another build, change TORCH below (e.g. TORCH = torch==2.13.0+cu126 with an extra index).
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
# Rules call `python -m rero`: the environment's python comes first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup run run-3d report test test-fast lint format clean docs snapshot

setup: $(STAMP)

# Reinstalls only when the install files change; otherwise a no-op.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar off "$(TORCH)" -e ".[dev]"
	touch $(STAMP)

SNAKEMAKE := $(BIN)/snakemake --workflow-profile workflow/profiles/default --cores $(CORES)

# The whole default study, then its HTML report (results/report.html).
run: setup
	$(SNAKEMAKE)
	$(SNAKEMAKE) --report results/report.html

# The report of the study run so far (brings its tables, pages and README up to date first):
# figures, every table as a page, the study in prose, config, versions and commit.
report: setup
	$(SNAKEMAKE)
	$(SNAKEMAKE) --report results/report.html

# The shipped 3-D segmentation study (workflow/configs/mni152_seg.yaml) in place of the default.
run-3d: setup
	$(SNAKEMAKE) --configfile workflow/configs/mni152_seg.yaml
	$(SNAKEMAKE) --configfile workflow/configs/mni152_seg.yaml --report results/report.html

# The docs site (site/): the README and docs pages rendered from docs/snapshot/ and the schema,
# then built offline with mkdocs, a warning an error.
docs: setup
	$(BIN)/python -m rero docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# After `make run` (or `make run-3d`) on a clean checkout: the run's numbers into docs/snapshot/,
# the documented advise example run again, the README and docs rendered from them.
snapshot: setup
	$(BIN)/python -m rero snapshot --results results

# Everything (CI runs it); test-fast: the unit tests only, no Snakemake run, for daily work.
# pytest workers take whole modules, longest first; the modules of the shared tiny workflow run
# (tests/workflow/tiny_run/) go to one worker as one unit (tests/conftest.py). One worker more
# than cores for make test: its SLURM tests and dry runs leave a core idle while they wait.
TEST_WORKERS ?= $(shell echo $$(( $(CORES) + 1 )))
PYTEST := $(BIN)/python -m pytest

test: setup
	$(PYTEST) -n $(TEST_WORKERS)

test-fast: setup
	$(PYTEST) -n $(CORES) -m "not slow and not workflow"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results .snakemake

# Development targets (lint, format, typecheck, test) and the nightly regression run.
# NIGHTLY_URI: the nightly tracking store (default: qbench's own).
NIGHTLY_URI ?=
# The qbench command (e.g. .venv/bin/qbench when the virtual environment is not activated).
QBENCH ?= qbench

# The Python of the virtual environment the README sets up.
PYTHON ?= .venv/bin/python

.PHONY: lint format typecheck test sample-data nightly nightly-baseline

# ruff's lint rules and formatting check (pyproject.toml [tool.ruff]).
lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

# Rewrite files into ruff's format and apply its safe fixes.
format:
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

# mypy on the core packages (pyproject.toml [tool.mypy] lists them).
typecheck:
	$(PYTHON) -m mypy

# The default test run: the README's test command.
test:
	$(PYTHON) -m pytest

# Regenerate the sample sets in tasks/data from their generators in tasks/data/gen (stdlib only;
# the output is identical to the committed files, which tests/test_sample_data.py checks).
sample-data:
	$(PYTHON) tasks/data/gen/make_samples.py

# Sweep results/nightly.yaml, write results/leaderboard.{md,html}, compare with the baseline.
nightly:
	QBENCH=$(QBENCH) scripts/nightly.sh $(NIGHTLY_URI)

# Re-export results/baselines/nightly.json from the newest nightly runs (review before committing).
nightly-baseline:
	$(QBENCH) export --experiment nightly --out results/baselines/nightly.json \
		$(if $(NIGHTLY_URI),--tracking-uri $(NIGHTLY_URI))

# Nightly regression run and its baseline.  NIGHTLY_URI: tracking store (default: qbench's own).
NIGHTLY_URI ?=
# The qbench command (e.g. .venv/bin/qbench when the virtual environment is not activated).
QBENCH ?= qbench

.PHONY: nightly nightly-baseline

# Sweep results/nightly.yaml, write results/leaderboard.{md,html}, compare with the baseline.
nightly:
	QBENCH=$(QBENCH) scripts/nightly.sh $(NIGHTLY_URI)

# Re-export results/baselines/nightly.json from the newest nightly runs (review before committing).
nightly-baseline:
	$(QBENCH) export --experiment nightly --out results/baselines/nightly.json \
		$(if $(NIGHTLY_URI),--tracking-uri $(NIGHTLY_URI))

# Nightly regression run and its baseline.  NIGHTLY_URI: tracking store (default: qbench's own).
NIGHTLY_URI ?=

.PHONY: nightly nightly-baseline

# Sweep results/nightly.yaml, write results/leaderboard.{md,html}, compare with the baseline.
nightly:
	scripts/nightly.sh $(NIGHTLY_URI)

# Re-export results/baselines/nightly.json from the newest nightly runs (review before committing).
nightly-baseline:
	qbench export --experiment nightly --out results/baselines/nightly.json \
		$(if $(NIGHTLY_URI),--tracking-uri $(NIGHTLY_URI))

#!/usr/bin/env bash
# Nightly regression run: sweep results/nightly.yaml into a tracking store, write the leaderboard
# (results/leaderboard.md and .html), then gate the runs against results/baselines/nightly.json.
#
# Usage: scripts/nightly.sh [TRACKING_URI]
#   TRACKING_URI  store to write and read [default: $MLFLOW_TRACKING_URI, else
#                 sqlite:///results/mlflow.db; the runs go to its `nightly` experiment]
# Environment: QBENCH (the qbench command, default `qbench`), NIGHTLY_BASELINE (baseline file).
#
# Exit code: that of `qbench compare` (0 no regression, 1 regression, 2 missing baseline or runs);
# when the comparison passes but the sweep itself failed, the sweep's exit code.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

store="${1:-${MLFLOW_TRACKING_URI:-sqlite:///results/mlflow.db}}"
config="results/nightly.yaml"
experiment="nightly"
baseline="${NIGHTLY_BASELINE:-results/baselines/nightly.json}"
qbench="${QBENCH:-qbench}"
export MLFLOW_TRACKING_URI="$store"

mkdir -p results
echo "nightly: sweep $config into $store (experiment $experiment)" >&2
run_rc=0
# --no-cache: every method prepares from scratch, so a change in a method's code shows up
"$qbench" run --config "$config" --force --no-cache || run_rc=$?
if [[ $run_rc -ne 0 ]]; then
  echo "nightly: qbench run exited $run_rc; reporting what was recorded" >&2
fi

"$qbench" report --tracking-uri "$store" --experiment "$experiment" --out results --quiet \
  || echo "nightly: qbench report failed" >&2

compare_rc=0
"$qbench" compare --tracking-uri "$store" --experiment "$experiment" --baseline "$baseline" \
  || compare_rc=$?

if [[ $compare_rc -eq 0 && $run_rc -ne 0 ]]; then
  exit "$run_rc"
fi
exit "$compare_rc"

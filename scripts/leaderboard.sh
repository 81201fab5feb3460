#!/usr/bin/env bash
# Turn the `leaderboard` experiment of a tracking store into results/leaderboard/: the Markdown
# and HTML leaderboard (plots inside the HTML), a headless-Chromium screenshot of the HTML page,
# the exported baseline of its runs, and RUN.md (the sweep commands, the GPU, the code).
#
# Usage: scripts/leaderboard.sh TRACKING_URI [OUT_DIR]
#   TRACKING_URI  the store the sweeps wrote (results/leaderboard/sweep*.yaml)
#   OUT_DIR       default: results/leaderboard
# Environment: QBENCH (the qbench command, default `qbench`), CHROMIUM (the browser; default:
# the first of chromium, chromium-browser, google-chrome found on PATH).
#
# Exit code: 2 on bad arguments or when no finished run is in the store; else that of the
# first step that failed (no screenshot without a browser: that is an error too).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: scripts/leaderboard.sh TRACKING_URI [OUT_DIR]" >&2
  exit 2
fi
store="$1"
out="${2:-results/leaderboard}"
experiment="leaderboard"
qbench="${QBENCH:-qbench}"
browser="${CHROMIUM:-}"
if [[ -z "$browser" ]]; then
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null; then browser="$b"; break; fi
  done
fi
if [[ -z "$browser" ]]; then
  echo "leaderboard: no Chromium found (set CHROMIUM=/path/to/chromium); allowed: chromium," \
    "chromium-browser or google-chrome on PATH" >&2
  exit 2
fi

mkdir -p "$out"
"$qbench" report --tracking-uri "$store" --experiment "$experiment" --out "$out" --quiet
"$qbench" export --tracking-uri "$store" --experiment "$experiment" --out "$out/baseline.json"

page="$(cd "$out" && pwd)/leaderboard.html"
shot="$out/leaderboard.png"
profile_dir="$(mktemp -d)"
trap 'rm -rf "$profile_dir"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$profile_dir" --window-size=1400,2400 \
  --screenshot="$shot" "file://$page" >/dev/null 2>&1
if [[ ! -s "$shot" ]]; then
  echo "leaderboard: the browser wrote no screenshot of $page" >&2
  exit 1
fi

python3 - "$out/baseline.json" "$out/RUN.md" <<'PY'
import json
import subprocess
import sys

runs = json.load(open(sys.argv[1]))["entries"]
devices = sorted({r["tags"].get("device", "?") for r in runs})
commits = sorted({r["tags"].get("git_sha", "")[:10] for r in runs} - {""})
head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
lines = [
    "# How this leaderboard was made",
    "",
    "```bash",
    "qbench run --config results/leaderboard/sweep.yaml --device cuda --workers 6",
    "qbench run --config results/leaderboard/sweep-3bit.yaml --device cuda --workers 2",
    "scripts/leaderboard.sh TRACKING_URI    # this folder",
    "```",
    "",
    f"- Runs: {len(runs)} finished (the newest of each run key), in `baseline.json`.",
    f"- Device: {', '.join(devices)}.",
    f"- Code of the runs (git): {', '.join(commits) or 'not recorded'}; files written at "
    f"{head.stdout.strip() or '?'}.",
    "",
    "The sweeps may be run more than once on the same store (a sweep stopped early, a run",
    "that failed): `qbench run` skips every run already FINISHED, so each pass makes what is",
    "left. The runs by the day they started, the code they ran and the sweep processes beside",
    "them (the `workers` tag):",
    "",
]
passes = {}
for r in runs:
    t = r["tags"]
    key = (r["start_time"][:10], t.get("git_sha", "")[:10] or "?", t.get("workers", "1"))
    passes[key] = passes.get(key, 0) + 1
share = {"1": "one process"}
lines += [
    f"- {d}, code {sha}, {share.get(w, w + ' workers')}: {n} runs"
    for (d, sha, w), n in sorted(passes.items())
]
lines.append("")
open(sys.argv[2], "w").write("\n".join(lines))
PY
echo "leaderboard: wrote $out/{leaderboard.md,leaderboard.html,leaderboard.png,baseline.json,RUN.md}" >&2

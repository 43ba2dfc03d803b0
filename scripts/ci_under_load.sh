#!/usr/bin/env bash
# Run .ci/run N times in a row on a fresh clone, with one CPU hog busy on a core,
# to check that the suite is deterministic on a loaded 2-core machine.
#
#   scripts/ci_under_load.sh [RUNS] [WORKDIR]     (defaults: 5, a new temporary folder)
#
# The clone gets a read-only copy of ../shared beside it, as CI does. Each run's
# log is WORKDIR/runN.log; WORKDIR/summary.txt has one line per run.
set -euo pipefail
runs="${1:-5}"
work="${2:-$(mktemp -d)}"
here="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$work"
git clone -q "$here" "$work/main"
if [ -d "$here/../shared" ]; then
  cp -r "$here/../shared" "$work/shared"
  chmod -R a-w "$work/shared"
fi
python3 -c 'while True: pass' &
hog=$!
trap 'kill "$hog" 2>/dev/null || true' EXIT
cd "$work/main"
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  rc=0
  CI=true bash .ci/run < /dev/null > "$work/run$i.log" 2>&1 || rc=$?
  echo "run $i rc=$rc wall=$(( $(date +%s) - start ))s $(grep -E 'passed|failed' "$work/run$i.log" | tail -1)" \
    | tee -a "$work/summary.txt"
done

#!/usr/bin/env bash
# The server's hostile runs of issue 11, at full scale, on this checkout (after `make install`).
#
#   scripts/hostile/server_runs.sh [FUZZ_REQUESTS] [KILLS] [BATCHES_PER_KILL]
#                                  (defaults: 50000, 30, 200)
#
# (a) the seeded endpoint fuzz, in process and over HTTP: no 5xx;
# (b) kill -9 of the service, again and again, while three clients post: every
#     acknowledged report counted exactly once;
# (c) slowloris, 1,100 half-sent requests against a service limited to 1,024
#     open files: /healthz and POST /v1/reports stay available, the log stays short.
# Each prints its counts; any failure stops the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=.venv/bin/python
fuzz="${1:-50000}"
kills="${2:-30}"
per_kill="${3:-200}"
echo "== (a) endpoint fuzz, in process: $fuzz requests"
DISCREET_FUZZ_REQUESTS="$fuzz" "$py" -m pytest tests/test_server_fuzz.py -k no_request \
  -q -s -p no:cacheprovider
echo "== (a) endpoint fuzz, over HTTP: $fuzz requests"
"$py" scripts/hostile/server_http_fuzz.py --requests "$fuzz"
echo "== (b) kill -9 while three clients post: $kills kills, up to $per_kill batches before each"
DISCREET_SERVER_KILLS="$kills" DISCREET_BATCHES_PER_KILL="$per_kill" "$py" -m pytest \
  tests/test_server_crash.py -q -s -p no:cacheprovider
echo "== (c) slowloris: 1100 connections, fd limit 1024, 45 s"
"$py" scripts/hostile/server_slowloris.py --connections 1100 --seconds 45 --fd-limit 1024

#!/usr/bin/env bash
# pure-ldp, the reference for bench_ldp.py, needs numpy<2; it gets a venv of its own and is
# never a dependency of discreet.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 -m venv "$here/.venv-pureldp"
"$here/.venv-pureldp/bin/pip" install --quiet "pure-ldp==1.2.0" "numpy<2" "scikit-learn<1.6" \
    "scipy<1.14" "statsmodels<0.15" pandas "xxhash<2" bitarray  # pure-ldp hashes str, as xxhash 1.x allowed
echo "pure-ldp installed in $here/.venv-pureldp"

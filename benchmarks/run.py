"""Run benchmarks and print their tables: ``python benchmarks/run.py [--quick] [--json] [NAME]``.

With ``--json``, each benchmark that can prints one JSON document instead of its table.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCHMARKS = (
    "bench_build",
    "bench_catalog_open",
    "bench_store",
    "bench_ldp",
    "bench_sketch",
    "bench_report_store",
    "bench_server",
    "bench_recommend",
    "bench_vdaf",
    "bench_import",
    "bench_cold_start",
    "bench_sync",
    "bench_first_pass_eval",
    "bench_eval",
    "bench_secagg_noise",
    "bench_dask",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="default: all")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--json", action="store_true", help="one JSON document per benchmark")
    options = parser.parse_args()
    for name in options.names or BENCHMARKS:
        module = importlib.import_module(name)
        if not options.json:
            print(module.main(options.quick))
            print()
        elif "as_json" in inspect.signature(module.main).parameters:
            print(module.main(options.quick, as_json=True))
        else:
            parser.error(f"{name} has no --json output")


if __name__ == "__main__":
    main()

"""Run every benchmark and print its table: ``python benchmarks/run.py [--quick] [NAME ...]``."""

from __future__ import annotations

import argparse
import importlib
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
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="default: all")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    options = parser.parse_args()
    for name in options.names or BENCHMARKS:
        module = importlib.import_module(name)
        print(module.main(options.quick))
        print()


if __name__ == "__main__":
    main()

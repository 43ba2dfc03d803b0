"""CPU time to import the engine, in fresh processes, beside importing numpy alone.

``import discreet.engine`` is what every app that embeds discreet pays at
start-up. It loads neither numpy nor TUF nor the publisher's scikit-learn:
ranking imports numpy when the first catalog is opened, and TUF comes with
the first sync. CPU time counts every thread of the process (OpenBLAS starts
its threads when numpy is imported).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys

from _harness import run_case, table

CASES = {
    "import numpy (reference)": "import numpy",
    "import discreet.engine": "import discreet.engine",
    "import discreet (package)": "import discreet",
    "import discreet.engine + Engine.open(kiosk)": (
        "import discreet.engine, tempfile\n"
        "discreet.engine.Engine.open(tempfile.mkdtemp(), kiosk=True).close()"
    ),
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def case(name: str) -> dict[str, object]:
    start = _cpu_seconds()
    exec(CASES[name], {})  # the statement under test, in this fresh process
    cpu_ms = (_cpu_seconds() - start) * 1000
    heavy = sorted(m for m in ("numpy", "tuf", "sklearn", "scipy") if m in sys.modules)
    return {"cpu_ms": cpu_ms, "loads": heavy}


def main(quick: bool = False) -> str:
    runs = 3 if quick else 9
    rows = []
    for name in CASES:
        results = [run_case("bench_import", [name]) for _ in range(runs)]
        cpu = [float(r["cpu_ms"]) for r in results]
        rows.append(
            {
                "what": name,
                "cpu_ms_min": min(cpu),
                "cpu_ms_p50": statistics.median(cpu),
                "loads": ",".join(results[0]["loads"]) or "-",
            }
        )
    return table(
        f"import cost, CPU ms over {runs} fresh processes each",
        rows,
        ["what", "cpu_ms_min", "cpu_ms_p50", "loads"],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--case")
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    if options.case:
        print(json.dumps(case(options.case)))
    else:
        print(main(options.quick))

"""Shared benchmark plumbing: run a case in a fresh process, measure, print a table."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def rss_mib(field: str = "VmRSS") -> float:
    """Resident memory of this process now, in MiB (Linux).

    ``VmRSS`` counts everything resident, including file pages mapped from the
    page cache; ``RssAnon`` counts only the process's own (anonymous) memory.
    """
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux's ``VmHWM``, not ``ru_maxrss``: a process started by a large parent
    inherits the parent's resident size at fork into ``ru_maxrss`` (the peak
    survives the exec), which would charge a case with its runner's memory.
    """
    peak = rss_mib("VmHWM")
    return peak if peak == peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(module: str, args: Sequence[str]) -> dict[str, Any]:
    """Run ``python benchmarks/<module>.py --case ARGS`` in a fresh process; return its JSON."""
    done = subprocess.run(
        [sys.executable, str(HERE / f"{module}.py"), "--case", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {args} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table."""
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [title, line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
    return str(value)

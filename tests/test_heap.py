"""The eval's processes keep freed memory: a large array allocated again costs no page faults."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

#: Allocates, fills and frees a 64 MiB array three times; prints the page faults of the last.
_SCRIPT = """
import resource, sys
import numpy as np
from discreet.evaluation.heap import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
for _ in range(3):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(8 << 20)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del a
print(faults)
"""


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_a_large_array_allocated_again_reuses_the_freed_memory() -> None:
    fresh, kept = _faults("fresh"), _faults("keep")
    assert fresh > 0
    assert kept * 4 < fresh

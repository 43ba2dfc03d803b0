"""The evaluation's processes keep the memory they free, for the next large array.

The simulation and the ranking passes allocate and free arrays of tens of MB
thousands of times. glibc's malloc serves each from a fresh memory mapping and
returns it on free, so every new array is paid again in page faults (on
``discreet eval``, a sixth of its CPU time went to the kernel). Raising its
mapping and trimming thresholds keeps large arrays on the heap and freed memory
in the process for reuse; the peak resident size is about the same, but it is
not given back until the process ends. Only processes that do nothing else call
it: the eval command's and its worker processes. Elsewhere than glibc it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: ``mallopt``'s parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Arrays below this come from the heap, and up to this much freed memory is kept.
THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Keep large arrays on the heap and freed memory for reuse, in this process (glibc);
    whether it was set."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, THRESHOLD))

"""Ranking runs its BLAS calls on one thread, and leaves the app's own setting as it was.

A ranking call multiplies one vector by the catalog: memory-bound work that
a second BLAS thread does not speed up, and that OpenBLAS's spinning threads
slow down badly on a busy machine (about 15 ms per small call on two shared
cores). So each call limits BLAS to one thread while it runs, through
threadpoolctl, and restores whatever the app had set when it returns.

OpenBLAS has one process-wide setting, and threadpoolctl lets only one Python
thread at a time change it, so two overlapping limits from two threads would
restore each other's values in the wrong order. Ranking calls therefore take
one process-wide lock while they hold the limit: they are short, and each
runs on one thread anyway. A call made while the limit is already held (a
ranking call inside another, or inside a loop wrapped as a whole, as the
evaluation does) runs as it is, without asking the libraries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache, wraps
from typing import ParamSpec, TypeVar

from threadpoolctl import ThreadpoolController

_P = ParamSpec("_P")
_R = TypeVar("_R")
_LOCK = threading.RLock()
#: How deep the thread holding ``_LOCK`` is in limited calls (0: none holds the limit).
_depth = 0


@cache
def _controller() -> ThreadpoolController:
    # Finding the loaded BLAS libraries takes a fraction of a millisecond: do it once.
    return ThreadpoolController()


def one_blas_thread(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``function`` with BLAS limited to one thread, then restore the app's setting."""

    @wraps(function)
    def limited(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        global _depth
        with _LOCK:
            if _depth:  # this thread already holds the limit
                return function(*args, **kwargs)
            _depth += 1
            try:
                blas = [lib for lib in _controller().lib_controllers if lib.user_api == "blas"]
                if all(lib.num_threads == 1 for lib in blas):  # nothing to limit: skip the cost
                    return function(*args, **kwargs)
                with _controller().limit(limits=1, user_api="blas"):
                    return function(*args, **kwargs)
            finally:
                _depth -= 1

    return limited

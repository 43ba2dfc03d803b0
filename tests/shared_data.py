"""Data the repository may not carry, read in place from ``../shared`` beside the checkout.

MovieLens allows research use only, so it is never copied into the repository.
A fresh clone with nothing beside it still passes ``make test``: every test that
needs the data calls :func:`require_movielens`, which skips with a reason that
says where the data was looked for. CI has the data and sets
``DISCREET_REQUIRE_SHARED_DATA=1`` (see ``.ci/run``); then a missing folder is a
failure, so those tests cannot quietly stop running.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The checkout's parent: ``../shared`` is looked for here.
BESIDE_CHECKOUT = Path(__file__).resolve().parents[2]
MOVIELENS = BESIDE_CHECKOUT / "shared" / "data" / "ml-latest-small"
REQUIRE_VARIABLE = "DISCREET_REQUIRE_SHARED_DATA"


def shared_data_required() -> bool:
    """Whether the environment asks for a missing ``../shared`` to fail (any value but 0)."""
    return os.environ.get(REQUIRE_VARIABLE, "").strip() not in ("", "0")


def require_movielens() -> Path:
    """The MovieLens folder; without it, skip the calling test, or fail it when required."""
    if MOVIELENS.is_dir():
        return MOVIELENS
    missing = f"MovieLens is not at {MOVIELENS} (../shared/data beside the checkout)"
    if shared_data_required():
        pytest.fail(f"{missing}, and {REQUIRE_VARIABLE} requires it", pytrace=False)
    pytest.skip(f"{missing}; CI sets {REQUIRE_VARIABLE}=1 to require it")

"""Shared by the VDAF tests: the published vectors and the parameter sets they use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from discreet.vdaf import (
    FIELD64,
    Prio3,
    Prio3Count,
    Prio3Histogram,
    Prio3MultihotCountVec,
    Prio3Sum,
    Prio3SumVec,
    Prio3SumVecWithMultiproof,
)

VECTORS = Path(__file__).parent / "data" / "vdaf"


def load(path: Path) -> dict[str, Any]:
    """One test vector file."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def prio3_from_vector(name: str, vector: dict[str, Any]) -> Prio3[Any, Any]:
    """The instance a vector file was generated with (its name's prefix says which)."""
    shares = vector["shares"]
    variant = name.split("_")[0]
    if variant == "Prio3Count":
        return Prio3Count(shares)
    if variant == "Prio3Sum":
        return Prio3Sum(shares, vector["max_measurement"])
    if variant == "Prio3SumVec":
        return Prio3SumVec(
            shares, vector["length"], vector["max_measurement"], vector["chunk_length"]
        )
    if variant == "Prio3Histogram":
        return Prio3Histogram(shares, vector["length"], vector["chunk_length"])
    if variant == "Prio3MultihotCountVec":
        return Prio3MultihotCountVec(
            shares, vector["length"], vector["max_weight"], vector["chunk_length"]
        )
    if variant == "Prio3SumVecWithMultiproof":
        # The draft's generator: Field64 with three proofs (poc/gen_test_vec.py).
        return Prio3SumVecWithMultiproof(
            shares, FIELD64, 3, vector["length"], vector["max_measurement"], vector["chunk_length"]
        )
    raise AssertionError(f"no Prio3 variant for {name}")

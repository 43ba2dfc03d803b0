"""The Prio3 variants of the draft (section "Variants") and their codepoints."""

from __future__ import annotations

from collections.abc import Sequence

from discreet.vdaf.circuits import Count, Histogram, MultihotCountVec, Sum, SumVec
from discreet.vdaf.field128 import FIELD128
from discreet.vdaf.fields import FIELD64, Field
from discreet.vdaf.prio3 import Prio3

__all__ = [
    "Prio3Count",
    "Prio3Histogram",
    "Prio3MultihotCountVec",
    "Prio3Sum",
    "Prio3SumVec",
    "Prio3SumVecWithMultiproof",
]


class Prio3Count(Prio3[int, int]):
    """Counts: each measurement is 0 or 1 (Field64, one proof, ID 1).

    >>> Prio3Count(shares=2).RAND_SIZE
    64
    """

    def __init__(self, shares: int) -> None:
        super().__init__(0x00000001, Count(FIELD64), shares)


class Prio3Sum(Prio3[int, int]):
    """Sums of integers in ``[0, max_measurement]`` (Field64, one proof, ID 2)."""

    def __init__(self, shares: int, max_measurement: int) -> None:
        super().__init__(0x00000002, Sum(FIELD64, max_measurement), shares)


class Prio3SumVec(Prio3[Sequence[int], list[int]]):
    """Sums of vectors of integers in ``[0, max_measurement]`` (Field128, one proof, ID 3)."""

    def __init__(self, shares: int, length: int, max_measurement: int, chunk_length: int) -> None:
        super().__init__(
            0x00000003, SumVec(FIELD128, length, max_measurement, chunk_length), shares
        )


class Prio3Histogram(Prio3[int, list[int]]):
    """Histograms: each measurement is one bucket index (Field128, one proof, ID 4)."""

    def __init__(self, shares: int, length: int, chunk_length: int) -> None:
        super().__init__(0x00000004, Histogram(FIELD128, length, chunk_length), shares)


class Prio3MultihotCountVec(Prio3[Sequence[bool], list[int]]):
    """Counts per entry of bit vectors with at most ``max_weight`` ones (Field128, ID 5).

    ``chunk_length`` near ``sqrt(length + max_weight.bit_length())`` keeps the proof short.
    """

    def __init__(self, shares: int, length: int, max_weight: int, chunk_length: int) -> None:
        super().__init__(
            0x00000005, MultihotCountVec(FIELD128, length, max_weight, chunk_length), shares
        )


class Prio3SumVecWithMultiproof(Prio3[Sequence[int], list[int]]):
    """The draft's experimental SumVec over any field with several proofs (private-use
    ID ``0xFFFFFFFF``, as in its test vectors)."""

    def __init__(
        self,
        shares: int,
        field: Field,
        proofs: int,
        length: int,
        max_measurement: int,
        chunk_length: int,
    ) -> None:
        circuit = SumVec(field, length, max_measurement, chunk_length)
        super().__init__(0xFFFFFFFF, circuit, shares, proofs)

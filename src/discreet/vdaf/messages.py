"""The typed messages of Prio3 (draft section "Message Serialization" gives their bytes).

Field vectors inside them are this package's arrays (see :mod:`discreet.vdaf.fields`):
treat them as opaque and go through the VDAF's ``encode_*``/``decode_*``,
``aggregate`` and ``merge``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from discreet.vdaf.fields import Vec

__all__ = [
    "AggregateShare",
    "HelperInputShare",
    "InputShare",
    "LeaderInputShare",
    "OutputShare",
    "PrepMessage",
    "PrepShare",
    "PrepState",
    "PublicShare",
    "ShardedReport",
]


@dataclass(frozen=True)
class PublicShare:
    """What every aggregator gets: the joint randomness parts, when the circuit uses them."""

    joint_rand_parts: tuple[bytes, ...] | None


@dataclass(frozen=True, eq=False)
class LeaderInputShare:
    """Aggregator 0's input share: its measurement share and proof shares in full."""

    meas_share: Vec
    proofs_share: Vec
    blind: bytes | None


@dataclass(frozen=True)
class HelperInputShare:
    """A helper's input share: one XOF seed that expands into its measurement and proof shares."""

    seed: bytes
    blind: bytes | None


InputShare: TypeAlias = LeaderInputShare | HelperInputShare


@dataclass(frozen=True)
class ShardedReport:
    """A device's report: its nonce, the public share and one input share per aggregator."""

    nonce: bytes
    public_share: PublicShare
    input_shares: tuple[InputShare, ...]


@dataclass(frozen=True, eq=False)
class PrepState:
    """What an aggregator keeps between ``prep_init`` and ``prep_next``."""

    out_share: Vec
    corrected_joint_rand_seed: bytes | None


@dataclass(frozen=True, eq=False)
class PrepShare:
    """What an aggregator sends its peers (the draft's verifier share)."""

    verifiers_share: Vec
    joint_rand_part: bytes | None


@dataclass(frozen=True)
class PrepMessage:
    """The combined preparation message (the draft's verifier message)."""

    joint_rand_seed: bytes | None


@dataclass(frozen=True, eq=False)
class OutputShare:
    """One report's prepared, verified share of the output: add it into an aggregate."""

    values: Vec


@dataclass(frozen=True, eq=False)
class AggregateShare:
    """An aggregator's sum of output shares, for the collector."""

    values: Vec

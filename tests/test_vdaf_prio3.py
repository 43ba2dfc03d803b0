"""Prio3's contract, for every variant: valid reports sum up, invalid ones are rejected
by preparation, malformed messages by decoding, and bad parameters up front.

Every report here travels as bytes between the device and the aggregators, as it
will on the wire.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discreet.vdaf import (
    FIELD128,
    OutputShare,
    Prio3,
    Prio3Count,
    Prio3Histogram,
    Prio3MultihotCountVec,
    Prio3Sum,
    Prio3SumVec,
    Prio3SumVecWithMultiproof,
    ShardedReport,
    VdafDecodeError,
    VdafError,
    VdafMeasurementError,
    VdafParameterError,
    VdafVerifyError,
    errors,
)
from discreet.vdaf.circuits import encode_range_checked_int

CTX = b"discreet tests"
VERIFY_KEY = bytes(range(32))


@dataclasses.dataclass(frozen=True)
class Case:
    """One VDAF instance, a strategy for its valid measurements, and their plain sum."""

    name: str
    vdaf: Prio3[Any, Any]
    measurements: st.SearchStrategy[Any]
    plain_sum: Callable[[list[Any]], Any]
    sample: Any

    def __str__(self) -> str:
        return self.name


def _vector_sum(ms: list[Sequence[int]], length: int) -> list[int]:
    return [sum(int(m[i]) for m in ms) for i in range(length)]


def _multihot(length: int, max_weight: int) -> st.SearchStrategy[list[bool]]:
    ones = st.lists(st.integers(0, length - 1), max_size=max_weight, unique=True)
    return ones.map(lambda idx: [i in idx for i in range(length)])


CASES = [
    Case("count", Prio3Count(2), st.integers(0, 1), sum, 1),
    Case("count-3-shares", Prio3Count(3), st.booleans(), lambda ms: sum(int(m) for m in ms), True),
    Case("sum", Prio3Sum(2, 1337), st.integers(0, 1337), sum, 1000),
    Case(
        "sumvec",
        Prio3SumVec(2, 5, 7, 3),
        st.lists(st.integers(0, 7), min_size=5, max_size=5),
        lambda ms: _vector_sum(ms, 5),
        [7, 0, 3, 1, 5],
    ),
    Case(
        "histogram",
        Prio3Histogram(2, 7, 3),
        st.integers(0, 6),
        lambda ms: [sum(m == i for m in ms) for i in range(7)],
        4,
    ),
    Case(
        "multihot",
        Prio3MultihotCountVec(2, 9, 3, 2),
        _multihot(9, 3),
        lambda ms: _vector_sum(ms, 9),
        [True, False, False, True, False, False, False, False, True],
    ),
    Case(
        "multihot-3-shares",
        Prio3MultihotCountVec(3, 10, 10, 4),
        _multihot(10, 10),
        lambda ms: _vector_sum(ms, 10),
        [True] * 10,
    ),
    Case(
        "sumvec-multiproof",
        Prio3SumVecWithMultiproof(2, FIELD128, 2, 3, 15, 2),
        st.lists(st.integers(0, 15), min_size=3, max_size=3),
        lambda ms: _vector_sum(ms, 3),
        [15, 0, 9],
    ),
]
PROPERTY = settings(max_examples=8, deadline=None, derandomize=True)


def _random(vdaf: Prio3[Any, Any]) -> st.SearchStrategy[tuple[bytes, bytes]]:
    size = st.binary(min_size=vdaf.NONCE_SIZE, max_size=vdaf.NONCE_SIZE)
    return st.tuples(size, st.binary(min_size=vdaf.RAND_SIZE, max_size=vdaf.RAND_SIZE))


def prepare(vdaf: Prio3[Any, Any], report: ShardedReport) -> list[OutputShare]:
    """Every aggregator prepares its share of ``report``, every message passing as bytes."""
    public = vdaf.encode_public_share(report.public_share)
    states, prep_shares = [], []
    for agg_id, share in enumerate(report.input_shares):
        state, prep_share = vdaf.prep_init(
            VERIFY_KEY,
            CTX,
            agg_id,
            report.nonce,
            vdaf.decode_public_share(public),
            vdaf.decode_input_share(agg_id, vdaf.encode_input_share(share)),
        )
        states.append(state)
        prep_shares.append(vdaf.decode_prep_share(vdaf.encode_prep_share(prep_share)))
    message = vdaf.prep_shares_to_prep(CTX, prep_shares)
    wire = vdaf.decode_prep_message(vdaf.encode_prep_message(message))
    return [vdaf.prep_next(CTX, state, wire) for state in states]


@pytest.mark.parametrize("case", CASES, ids=str)
@PROPERTY
@given(data=st.data())
def test_unsharding_the_aggregate_gives_the_plain_sum(case: Case, data: st.DataObject) -> None:
    vdaf = case.vdaf
    measurements = data.draw(st.lists(case.measurements, min_size=1, max_size=3))
    by_aggregator: list[list[OutputShare]] = [[] for _ in range(vdaf.SHARES)]
    for measurement in measurements:
        nonce, rand = data.draw(_random(vdaf))
        report = vdaf.shard(CTX, measurement, nonce=nonce, rand=rand)
        for agg_id, out_share in enumerate(prepare(vdaf, report)):
            by_aggregator[agg_id].append(out_share)
    agg_shares = [
        vdaf.decode_agg_share(vdaf.encode_agg_share(vdaf.aggregate(outs))) for outs in by_aggregator
    ]
    assert vdaf.unshard(agg_shares, len(measurements)) == case.plain_sum(measurements)


def test_shard_draws_fresh_randomness_from_the_os() -> None:
    vdaf = Prio3MultihotCountVec(2, 9, 3, 2)
    bits = [True, False, False, True, False, False, False, False, True]
    first, second = (vdaf.shard(CTX, bits) for _ in range(2))
    assert first.nonce != second.nonce
    assert first.public_share != second.public_share
    assert first.input_shares[1] != second.input_shares[1]
    for report in (first, second):
        out_shares = prepare(vdaf, report)
        assert vdaf.unshard([vdaf.aggregate([s]) for s in out_shares], 1) == [int(b) for b in bits]


def _range_encoding(value: int, max_value: int, bump_first_bit: bool = False) -> list[int]:
    bits = encode_range_checked_int(value, max_value)
    return [bits[0] + 1, *bits[1:]] if bump_first_bit else bits


# Encoded measurements outside each circuit, as a buggy or malicious device could send them.
INVALID = [
    ("count of 2", Prio3Count(2), [2]),
    ("count of -1", Prio3Count(2), [-1]),
    # The largest valid Sum with its weight-1 bit made a 2: it decodes to max + 1.
    ("sum above its max", Prio3Sum(2, 1337), _range_encoding(1337, 1337, bump_first_bit=True)),
    ("sumvec entry not a bit", Prio3SumVec(2, 2, 7, 3), [1, 1, 1, 2, 0, 0]),
    ("histogram two-hot", Prio3Histogram(2, 7, 3), [0, 1, 0, 0, 1, 0, 0]),
    ("histogram zero-hot", Prio3Histogram(2, 7, 3), [0] * 7),
    ("histogram bucket of 2", Prio3Histogram(2, 7, 3), [0, 0, 2, 0, 0, 0, 0]),
    # A 2 with a weight that matches it: only the range check catches it.
    ("multihot with a 2", Prio3MultihotCountVec(2, 9, 3, 2), [2] + [0] * 8 + _range_encoding(2, 3)),
    # Four ones, the weight claimed as the max of 3: the weight check catches it.
    (
        "multihot with too many ones",
        Prio3MultihotCountVec(2, 9, 3, 2),
        [1] * 4 + [0] * 5 + _range_encoding(3, 3),
    ),
    # Four ones and a weight encoding bent to say 4: the range check catches it.
    (
        "multihot with too many ones, weight bent",
        Prio3MultihotCountVec(2, 9, 3, 2),
        [1] * 4 + [0] * 5 + _range_encoding(3, 3, bump_first_bit=True),
    ),
    (
        "multihot too many ones, 3 shares",
        Prio3MultihotCountVec(3, 10, 2, 4),
        [1] * 3 + [0] * 7 + _range_encoding(2, 2),
    ),
]


@pytest.mark.parametrize(("name", "vdaf", "encoded"), INVALID, ids=[c[0] for c in INVALID])
@settings(max_examples=4, deadline=None, derandomize=True)
@given(data=st.data())
def test_a_measurement_outside_the_circuit_is_rejected_by_preparation(
    name: str, vdaf: Prio3[Any, Any], encoded: list[int], data: st.DataObject
) -> None:
    nonce, rand = data.draw(_random(vdaf))
    meas = vdaf.field.from_ints(encoded)
    report = vdaf.shard_encoded(CTX, meas, nonce=nonce, rand=rand)
    with pytest.raises(VdafVerifyError):
        prepare(vdaf, report)


def _bump(vdaf: Prio3[Any, Any], v: Any, index: int) -> Any:
    field = vdaf.field
    out = v.copy()
    out[index] = field.add(v[index], field.scalar(1))
    return out


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def _tamper_leader(
    **changes: Callable[[Prio3[Any, Any], Any], Any],
) -> Callable[..., ShardedReport]:
    def tamper(vdaf: Prio3[Any, Any], report: ShardedReport) -> ShardedReport:
        leader = report.input_shares[0]
        fields = {k: f(vdaf, getattr(leader, k)) for k, f in changes.items()}
        return dataclasses.replace(
            report, input_shares=(dataclasses.replace(leader, **fields), *report.input_shares[1:])
        )

    return tamper


def _tamper_helper(vdaf: Prio3[Any, Any], report: ShardedReport, what: str) -> ShardedReport:
    helper = report.input_shares[1]
    changed = dataclasses.replace(helper, **{what: _flip(getattr(helper, what))})
    return dataclasses.replace(
        report, input_shares=(report.input_shares[0], changed, *report.input_shares[2:])
    )


def _tamper_public(vdaf: Prio3[Any, Any], report: ShardedReport) -> ShardedReport:
    parts = report.public_share.joint_rand_parts
    assert parts is not None
    public = dataclasses.replace(
        report.public_share, joint_rand_parts=(_flip(parts[0]), *parts[1:])
    )
    return dataclasses.replace(report, public_share=public)


TAMPERINGS: list[tuple[str, Callable[[Prio3[Any, Any], ShardedReport], ShardedReport], bool]] = [
    ("leader meas share", _tamper_leader(meas_share=lambda v, m: _bump(v, m, 0)), False),
    ("leader wire seed", _tamper_leader(proofs_share=lambda v, p: _bump(v, p, 0)), False),
    ("leader gadget poly", _tamper_leader(proofs_share=lambda v, p: _bump(v, p, -1)), False),
    ("helper seed", lambda v, r: _tamper_helper(v, r, "seed"), False),
    ("leader blind", _tamper_leader(blind=lambda v, b: _flip(b)), True),
    ("helper blind", lambda v, r: _tamper_helper(v, r, "blind"), True),
    ("joint rand part", _tamper_public, True),
]
TAMPER_CASES = [
    (case, name, tamper)
    for case in CASES
    for name, tamper, needs_joint in TAMPERINGS
    if case.vdaf.circuit.joint_rand_len > 0 or not needs_joint
]


@pytest.mark.parametrize(
    ("case", "name", "tamper"), TAMPER_CASES, ids=[f"{c}-{n}" for c, n, _ in TAMPER_CASES]
)
def test_a_tampered_report_is_rejected_by_preparation(
    case: Case, name: str, tamper: Callable[[Prio3[Any, Any], ShardedReport], ShardedReport]
) -> None:
    vdaf = case.vdaf
    report = vdaf.shard(CTX, case.sample, nonce=bytes(16), rand=bytes(vdaf.RAND_SIZE))
    prepare(vdaf, report)  # the untouched report goes through
    with pytest.raises(VdafVerifyError):
        prepare(vdaf, tamper(vdaf, report))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_prep_shares_and_messages_tampered_in_transit_are_rejected(case: Case) -> None:
    vdaf = case.vdaf
    report = vdaf.shard(CTX, case.sample, nonce=bytes(16), rand=bytes(vdaf.RAND_SIZE))
    inits = [
        vdaf.prep_init(VERIFY_KEY, CTX, j, report.nonce, report.public_share, share)
        for j, share in enumerate(report.input_shares)
    ]
    states, shares = [s for s, _ in inits], [p for _, p in inits]
    for index in (0, -1):  # the circuit's output, and the last gadget check
        bent = dataclasses.replace(
            shares[1], verifiers_share=_bump(vdaf, shares[1].verifiers_share, index)
        )
        with pytest.raises(VdafVerifyError, match="proof"):
            vdaf.prep_shares_to_prep(CTX, [shares[0], bent, *shares[2:]])
    message = vdaf.prep_shares_to_prep(CTX, shares)
    assert all(len(vdaf.prep_next(CTX, s, message).values) for s in states)
    if message.joint_rand_seed is None:
        return
    wrong = dataclasses.replace(message, joint_rand_seed=_flip(message.joint_rand_seed))
    with pytest.raises(VdafVerifyError, match="joint randomness"):
        vdaf.prep_next(CTX, states[0], wrong)
    part = shares[0].joint_rand_part
    assert part is not None
    other = dataclasses.replace(shares[0], joint_rand_part=_flip(part))
    message = vdaf.prep_shares_to_prep(CTX, [other, *shares[1:]])
    with pytest.raises(VdafVerifyError, match="joint randomness"):
        vdaf.prep_next(CTX, states[1], message)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_malformed_messages_are_refused_by_decoding(case: Case) -> None:
    vdaf = case.vdaf
    report = vdaf.shard(CTX, case.sample, nonce=bytes(16), rand=bytes(vdaf.RAND_SIZE))
    public = vdaf.encode_public_share(report.public_share)
    leader, helper = (vdaf.encode_input_share(s) for s in report.input_shares[:2])
    state, prep_share = vdaf.prep_init(
        VERIFY_KEY, CTX, 0, report.nonce, report.public_share, report.input_shares[0]
    )
    prep = vdaf.encode_prep_share(prep_share)
    message = vdaf.encode_prep_message(
        vdaf.prep_shares_to_prep(
            CTX,
            [prep_share]
            + [
                vdaf.prep_init(VERIFY_KEY, CTX, j, report.nonce, report.public_share, s)[1]
                for j, s in enumerate(report.input_shares[1:], start=1)
            ],
        )
    )
    agg = vdaf.encode_agg_share(
        vdaf.aggregate([vdaf.prep_next(CTX, state, vdaf.decode_prep_message(message))])
    )
    decoders: list[tuple[Callable[[bytes], object], bytes]] = [
        (vdaf.decode_public_share, public),
        (lambda b: vdaf.decode_input_share(0, b), leader),
        (lambda b: vdaf.decode_input_share(1, b), helper),
        (vdaf.decode_prep_share, prep),
        (vdaf.decode_prep_message, message),
        (vdaf.decode_agg_share, agg),
    ]
    for decode, good in decoders:
        decode(good)
        for bad in (good + b"\x00", good[:-1] if good else b"\x00", b"\x00" * 100_000):
            with pytest.raises(VdafDecodeError):
                decode(bad)
    # A field element at or above the modulus, in the leader's share and the aggregate.
    top = vdaf.field.modulus.to_bytes(vdaf.field.encoded_size, "little")
    for decode, good in decoders[1:2] + decoders[5:]:
        with pytest.raises(VdafDecodeError, match="modulus"):
            decode(top + good[len(top) :])
    with pytest.raises(VdafDecodeError, match="nonce"):
        vdaf.prep_init(VERIFY_KEY, CTX, 0, bytes(15), report.public_share, report.input_shares[0])
    with pytest.raises(VdafDecodeError, match="leader"):
        vdaf.prep_init(
            VERIFY_KEY, CTX, 1, report.nonce, report.public_share, report.input_shares[0]
        )


MEASUREMENT_ERRORS: list[tuple[Prio3[Any, Any], object]] = [
    (Prio3Count(2), 2),
    (Prio3Count(2), -1),
    (Prio3Count(2), "1"),
    (Prio3Sum(2, 1337), 1338),
    (Prio3Sum(2, 1337), -1),
    (Prio3Sum(2, 1337), 1.0),
    (Prio3SumVec(2, 3, 7, 2), [1, 2]),
    (Prio3SumVec(2, 3, 7, 2), [1, 2, 8]),
    (Prio3Histogram(2, 7, 3), 7),
    (Prio3Histogram(2, 7, 3), True),
    (Prio3MultihotCountVec(2, 9, 3, 2), [True] * 4 + [False] * 5),
    (Prio3MultihotCountVec(2, 9, 3, 2), [2] + [0] * 8),
    (Prio3MultihotCountVec(2, 9, 3, 2), [True] * 8),
    (Prio3MultihotCountVec(2, 9, 3, 2), np.ones(9) / 9),
]


@pytest.mark.parametrize(("vdaf", "measurement"), MEASUREMENT_ERRORS)
def test_the_device_refuses_a_measurement_it_cannot_encode(
    vdaf: Prio3[Any, Any], measurement: object
) -> None:
    with pytest.raises(VdafMeasurementError):
        vdaf.shard(CTX, measurement)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Prio3Count(1),
        lambda: Prio3Count(256),
        lambda: Prio3Sum(2, 0),
        lambda: Prio3SumVec(2, 0, 1, 1),
        lambda: Prio3Histogram(2, 4, 0),
        lambda: Prio3MultihotCountVec(2, 4, 5, 2),
        lambda: Prio3MultihotCountVec(2, 4, 0, 2),
        lambda: Prio3SumVecWithMultiproof(2, FIELD128, 0, 3, 1, 1),
    ],
)
def test_impossible_parameters_are_refused_up_front(make: Callable[[], object]) -> None:
    with pytest.raises(VdafParameterError):
        make()


def test_shard_and_prep_refuse_wrong_sizes() -> None:
    vdaf = Prio3Count(2)
    with pytest.raises(VdafParameterError, match="nonce"):
        vdaf.shard(CTX, 1, nonce=bytes(15))
    with pytest.raises(VdafParameterError, match="random bytes"):
        vdaf.shard(CTX, 1, rand=bytes(vdaf.RAND_SIZE - 1))
    report = vdaf.shard(CTX, 1)
    with pytest.raises(VdafParameterError, match="verification key"):
        vdaf.prep_init(bytes(31), CTX, 0, report.nonce, report.public_share, report.input_shares[0])
    with pytest.raises(VdafParameterError, match="aggregator id"):
        vdaf.prep_init(
            VERIFY_KEY, CTX, 2, report.nonce, report.public_share, report.input_shares[1]
        )


def _finish(vdaf: Prio3[Any, Any], inits: list[tuple[Any, Any]]) -> None:
    message = vdaf.prep_shares_to_prep(CTX, [prep_share for _, prep_share in inits])
    for state, _ in inits:
        vdaf.prep_next(CTX, state, message)


def test_a_different_context_or_nonce_fails_verification() -> None:
    vdaf = Prio3Histogram(2, 7, 3)
    report = vdaf.shard(CTX, 3)
    for ctx, nonce in ((b"another app", report.nonce), (CTX, bytes(16))):
        # The helper disagrees with the leader (and the device) on one of them.
        inits = [
            vdaf.prep_init(
                VERIFY_KEY, CTX, 0, report.nonce, report.public_share, report.input_shares[0]
            ),
            vdaf.prep_init(VERIFY_KEY, ctx, 1, nonce, report.public_share, report.input_shares[1]),
        ]
        with pytest.raises(VdafVerifyError):
            _finish(vdaf, inits)


def test_the_error_tree_is_drawn_and_rooted() -> None:
    assert errors.__all__ == sorted(errors.__all__)
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, VdafError)
        assert name in (errors.__doc__ or ""), f"{name} is missing from the drawn tree"

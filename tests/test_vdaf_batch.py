"""Batch sharding and preparation give each report exactly what the one-report API gives.

On every published vector (its reports in one batch, shuffled among fresh reports of
the same instance) and on random batches of valid and malformed reports: a report's
shares, its prep share and its state do not depend on the batch it is in, and a
malformed report is rejected alone.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discreet.vdaf import (
    HelperInputShare,
    InputShare,
    LeaderInputShare,
    Prio3,
    Prio3MultihotCountVec,
    PublicShare,
    ShardedReport,
    VdafDecodeError,
    VdafError,
    VdafVerifyError,
)
from tests.vdaf_support import VECTORS, load, prio3_from_vector

PRIO3_FILES = sorted(VECTORS.glob("Prio3*.json"))
CTX = b"batch test"

Job = tuple[bytes, PublicShare, InputShare]
#: A valid measurement of the circuits of the bad vectors, which publish none.
VALID: dict[str, Any] = {"Count": 1, "Histogram": 0}


def _encoded(vdaf: Prio3[Any, Any], sharded: ShardedReport) -> list[str]:
    """A sharded report's bytes: nonce, public share, every input share."""
    return [
        sharded.nonce.hex(),
        vdaf.encode_public_share(sharded.public_share).hex(),
        *(vdaf.encode_input_share(s).hex() for s in sharded.input_shares),
    ]


def _outcome(vdaf: Prio3[Any, Any], outcome: Any) -> tuple[str, ...]:
    """A preparation outcome as comparable bytes: its state and prep share, or its error."""
    if isinstance(outcome, VdafError):
        return (type(outcome).__name__, str(outcome))
    state, share = outcome
    return (
        vdaf.field.encode(state.out_share).hex(),
        (state.corrected_joint_rand_seed or b"").hex(),
        vdaf.encode_prep_share(share).hex(),
    )


def _one_by_one(
    vdaf: Prio3[Any, Any], verify_key: bytes, agg_id: int, jobs: list[Job]
) -> list[tuple[str, ...]]:
    out = []
    for nonce, public, share in jobs:
        try:
            outcome: Any = vdaf.prep_init(verify_key, CTX, agg_id, nonce, public, share)
        except VdafError as exc:
            outcome = exc
        out.append(_outcome(vdaf, outcome))
    return out


@pytest.mark.parametrize("path", PRIO3_FILES, ids=[p.stem for p in PRIO3_FILES])
def test_a_vector_in_a_batch_gives_the_published_bytes(path: Path) -> None:
    vector = load(path)
    vdaf = prio3_from_vector(path.stem, vector)
    ctx, verify_key = bytes.fromhex(vector["ctx"]), bytes.fromhex(vector["verify_key"])
    reports = vector["reports"]
    rng = random.Random(path.stem)
    # Fresh reports of the same instance around the vector's, in a shuffled order (the
    # bad vectors publish no measurement: theirs is a valid one of their variant).
    measurements = [
        VALID[type(vdaf.circuit).__name__] if r["measurement"] is None else r["measurement"]
        for r in reports
    ]
    extra = [vdaf.shard(ctx, m) for m in measurements for _ in range(2)]
    order = list(range(len(reports) + len(extra)))
    rng.shuffle(order)
    if "_bad_" not in path.stem:
        meas = vdaf.field.concat([vdaf.circuit.encode(m)[None] for m in measurements * 3])
        nonces = [bytes.fromhex(r["nonce"]) for r in reports] + [e.nonce for e in extra]
        rands = [bytes.fromhex(r["rand"]) for r in reports]
        rands += [rng.randbytes(vdaf.RAND_SIZE) for _ in extra]
        sharded = vdaf.shard_encoded_batch(
            ctx, meas[order], [nonces[i] for i in order], [rands[i] for i in order]
        )
        for position, index in enumerate(order):
            if index < len(reports):
                report = reports[index]
                got = _encoded(vdaf, sharded[position])
                assert got[1:] == [report["public_share"], *report["input_shares"]]
    published = {
        op["aggregator_id"] for op in vector["operations"] if op["operation"] == "verify_init"
    }
    for agg_id in sorted(published):
        jobs: list[Job] = []
        for index in order:
            if index < len(reports):
                report = reports[index]
                jobs.append(
                    (
                        bytes.fromhex(report["nonce"]),
                        vdaf.decode_public_share(bytes.fromhex(report["public_share"])),
                        vdaf.decode_input_share(
                            agg_id, bytes.fromhex(report["input_shares"][agg_id])
                        ),
                    )
                )
            else:
                e = extra[index - len(reports)]
                jobs.append((e.nonce, e.public_share, e.input_shares[agg_id]))
        outcomes = vdaf.prep_init_batch(verify_key, ctx, agg_id, jobs)
        for index, outcome in zip(order, outcomes, strict=True):
            assert not isinstance(outcome, VdafError)
            if index < len(reports):
                expected = reports[index]["verifier_shares"][0][agg_id]
                assert vdaf.encode_prep_share(outcome[1]).hex() == expected


def _valid(vdaf: Prio3MultihotCountVec, rng: random.Random) -> ShardedReport:
    circuit = vdaf.circuit
    ones = set(rng.sample(range(circuit.length), rng.randint(0, circuit.max_weight)))
    return vdaf.shard(CTX, [i in ones for i in range(circuit.length)])


def _malformed(vdaf: Prio3MultihotCountVec, rng: random.Random, kind: str) -> ShardedReport:
    """A report a modified client sends: each kind is rejected at a different step."""
    field, circuit = vdaf.field, vdaf.circuit
    if kind == "out_of_bounds":  # one entry of 2, weight 0: the proof fails
        encoded = [0] * circuit.meas_len
        encoded[rng.randrange(circuit.length)] = 2
        return vdaf.shard_encoded(CTX, field.from_ints(encoded))
    sharded = _valid(vdaf, rng)
    leader = sharded.input_shares[0]
    assert isinstance(leader, LeaderInputShare)
    if kind == "tampered_proof":
        proofs = leader.proofs_share.copy()
        proofs[0] = field.add(proofs[0:1], field.from_ints([1]))[0]
        shares: tuple[InputShare, ...] = (
            LeaderInputShare(leader.meas_share, proofs, leader.blind),
            *sharded.input_shares[1:],
        )
        return ShardedReport(sharded.nonce, sharded.public_share, shares)
    if kind == "short_nonce":
        return ShardedReport(sharded.nonce[:-1], sharded.public_share, sharded.input_shares)
    if kind == "no_blind":
        helper = sharded.input_shares[1]
        assert isinstance(helper, HelperInputShare)
        shares = (leader, HelperInputShare(helper.seed, None))
        return ShardedReport(sharded.nonce, sharded.public_share, shares)
    raise AssertionError(kind)


KINDS = ("valid", "out_of_bounds", "tampered_proof", "short_nonce", "no_blind")


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    length=st.integers(1, 40),
    chunk=st.integers(1, 9),
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=12),
    seed=st.integers(0, 2**32),
)
def test_a_batch_prepares_each_report_as_it_would_alone(
    length: int, chunk: int, kinds: list[str], seed: int
) -> None:
    vdaf = Prio3MultihotCountVec(2, length, max(1, length // 3), chunk)
    rng = random.Random(seed)
    verify_key = rng.randbytes(vdaf.VERIFY_KEY_SIZE)
    reports = [
        _valid(vdaf, rng) if kind == "valid" else _malformed(vdaf, rng, kind) for kind in kinds
    ]
    shares = []
    for agg_id in (0, 1):
        jobs: list[Job] = [(r.nonce, r.public_share, r.input_shares[agg_id]) for r in reports]
        batch = [_outcome(vdaf, o) for o in vdaf.prep_init_batch(verify_key, CTX, agg_id, jobs)]
        assert batch == _one_by_one(vdaf, verify_key, agg_id, jobs)
        shares.append(vdaf.prep_init_batch(verify_key, CTX, agg_id, jobs))
    prepared = []
    for kind, leader, helper in zip(kinds, *shares, strict=True):
        if kind in ("short_nonce", "no_blind"):  # the nonce is both's, the blind the helper's
            assert isinstance(leader, VdafDecodeError) == (kind == "short_nonce")
            assert isinstance(helper, VdafDecodeError)
            continue
        assert not isinstance(leader, VdafError)
        assert not isinstance(helper, VdafError)
        prepared.append((kind, leader, helper))
    messages = vdaf.prep_shares_to_prep_batch(CTX, [[a[1], b[1]] for _, a, b in prepared])
    for (kind, leader, helper), message in zip(prepared, messages, strict=True):
        if kind == "valid":
            assert not isinstance(message, VdafError)
            assert message == vdaf.prep_shares_to_prep(CTX, [leader[1], helper[1]])
            assert vdaf.prep_next(CTX, leader[0], message) is not None
        else:
            assert isinstance(message, VdafVerifyError)
            with pytest.raises(VdafVerifyError):
                vdaf.prep_shares_to_prep(CTX, [leader[1], helper[1]])


def test_shard_batch_gives_each_report_the_bytes_shard_gives() -> None:
    vdaf = Prio3MultihotCountVec(2, 50, 5, 7)
    rng = np.random.default_rng(21)
    bits = np.zeros((9, 50), dtype=bool)
    for row in bits:
        row[rng.choice(50, rng.integers(0, 6), replace=False)] = True
    meas = vdaf.field.concat([vdaf.circuit.encode(row)[None] for row in bits])
    nonces = [rng.bytes(vdaf.NONCE_SIZE) for _ in bits]
    rands = [rng.bytes(vdaf.RAND_SIZE) for _ in bits]
    batch = vdaf.shard_encoded_batch(CTX, meas, nonces, rands)
    for row, nonce, rand, sharded in zip(bits, nonces, rands, batch, strict=True):
        alone = vdaf.shard(CTX, row, nonce=nonce, rand=rand)
        assert _encoded(vdaf, sharded) == _encoded(vdaf, alone)

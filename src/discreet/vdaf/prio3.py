"""Prio3 (draft-irtf-cfrg-vdaf, section "Prio3"): shard, prepare, aggregate, unshard.

The draft-20 names map onto this module's as: ``verify_init`` is
:meth:`Prio3.prep_init`, ``verifier_shares_to_message`` is
:meth:`Prio3.prep_shares_to_prep` and ``verify_next`` is :meth:`Prio3.prep_next`.
Prio3 has no aggregation parameter, so none is taken.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from discreet.vdaf.errors import VdafDecodeError, VdafError, VdafParameterError, VdafVerifyError
from discreet.vdaf.fields import Vec
from discreet.vdaf.flp import Circuit, Flp
from discreet.vdaf.messages import (
    AggregateShare,
    HelperInputShare,
    InputShare,
    LeaderInputShare,
    OutputShare,
    PrepMessage,
    PrepShare,
    PrepState,
    PublicShare,
    ShardedReport,
)
from discreet.vdaf.xof import XofTurboShake128, format_dst

__all__ = ["Prio3"]

M = TypeVar("M")
R = TypeVar("R")

USAGE_MEAS_SHARE = 1
USAGE_PROOF_SHARE = 2
USAGE_JOINT_RANDOMNESS = 3
USAGE_PROVE_RANDOMNESS = 4
USAGE_QUERY_RANDOMNESS = 5
USAGE_JOINT_RAND_SEED = 6
USAGE_JOINT_RAND_PART = 7

#: At most this many measurement elements (reports times ``MEAS_LEN``) are queried at once
#: by :meth:`Prio3.prep_init_batch`: past it a batch gains little and costs memory.
BATCH_ELEMENTS = 1 << 17


@dataclass(frozen=True)
class _ShardSeeds:
    """A report's seeds: each helper's share seed and joint randomness blind, the leader's
    blind (empty without joint randomness) and the prover's seed."""

    shares: list[bytes]
    blinds: list[bytes]
    leader_blind: bytes
    prove_seed: bytes


@dataclass(frozen=True, eq=False)
class _Queryable:
    """One aggregator's expanded input for one report's FLP queries."""

    meas: Vec
    proofs: Vec
    query_rands: Vec
    joint_rands: Vec
    part: bytes | None
    corrected_seed: bytes | None


class Prio3(Generic[M, R]):
    """One Prio3 instance: a validity circuit, a number of shares and a number of proofs."""

    NONCE_SIZE = 16
    ROUNDS = 1
    xof = XofTurboShake128
    VERIFY_KEY_SIZE = XofTurboShake128.SEED_SIZE

    def __init__(
        self, algorithm_id: int, circuit: Circuit[M, R], shares: int, proofs: int = 1
    ) -> None:
        if not 2 <= shares < 256:
            raise VdafParameterError("Prio3 takes between 2 and 255 shares")
        if not 1 <= proofs < 256:
            raise VdafParameterError("Prio3 takes between 1 and 255 proofs")
        self.ID = algorithm_id
        self.SHARES = shares
        self.PROOFS = proofs
        self.circuit = circuit
        self.flp = Flp(circuit)
        self.field = circuit.field
        self._joint = circuit.joint_rand_len > 0
        seeds = 2 * shares if self._joint else shares
        self.RAND_SIZE = seeds * self.xof.SEED_SIZE

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shares={self.SHARES}, proofs={self.PROOFS})"

    # Sharding -------------------------------------------------------------

    def shard(
        self,
        ctx: bytes,
        measurement: M,
        *,
        nonce: bytes | None = None,
        rand: bytes | None = None,
    ) -> ShardedReport:
        """Split a measurement into a public share and one input share per aggregator.

        ``nonce`` and ``rand`` come from the OS CSPRNG unless given (test vectors give
        them). Raises :class:`VdafMeasurementError` for a measurement the circuit
        cannot encode. For example ``Prio3Count(2).shard(b"app", 1)``.
        """
        return self.shard_encoded(ctx, self.circuit.encode(measurement), nonce=nonce, rand=rand)

    def shard_encoded(
        self, ctx: bytes, meas: Vec, *, nonce: bytes | None = None, rand: bytes | None = None
    ) -> ShardedReport:
        """:meth:`shard` from an already encoded measurement, which is not checked.

        This is what a buggy or malicious device can send: preparation is what
        rejects an invalid one.
        """
        nonce = os.urandom(self.NONCE_SIZE) if nonce is None else nonce
        rand = os.urandom(self.RAND_SIZE) if rand is None else rand
        return self.shard_encoded_batch(ctx, meas[None], [nonce], [rand])[0]

    def shard_encoded_batch(
        self, ctx: bytes, meas: Vec, nonces: Sequence[bytes], rands: Sequence[bytes]
    ) -> list[ShardedReport]:
        """:meth:`shard_encoded` for each row of ``meas`` (element shape ``(reports,
        MEAS_LEN)``) with its nonce and random bytes: the XOF runs report by report, the
        field arithmetic and the proofs for all the rows at once (a simulation's many
        devices, say)."""
        field = self.field
        if field.shape(meas)[1:] != (self.circuit.meas_len,):
            raise VdafParameterError(f"an encoded measurement has {self.circuit.meas_len} elements")
        if len(nonces) != len(meas) or len(rands) != len(meas):
            raise VdafParameterError("shard takes one nonce and one random string per report")
        seeds = [self._shard_seeds(nonce, rand) for nonce, rand in zip(nonces, rands, strict=True)]
        leader_meas, helper_meas = meas, []
        for j in range(1, self.SHARES):
            share = field.concat(
                [self._helper_meas_share(ctx, j, s.shares[j - 1])[None] for s in seeds]
            )
            helper_meas.append(share)
            leader_meas = field.sub(leader_meas, share)
        parts: list[list[bytes]] = [[] for _ in seeds]
        joint_rands = field.zeros((len(seeds), 0))
        if self._joint:
            for b, (nonce, s) in enumerate(zip(nonces, seeds, strict=True)):
                blinds = [s.leader_blind, *s.blinds]
                shares = [leader_meas[b], *(h[b] for h in helper_meas)]
                parts[b] = [
                    self._joint_rand_part(ctx, j, blind, share, nonce)
                    for j, (blind, share) in enumerate(zip(blinds, shares, strict=True))
                ]
            joint_rands = field.concat(
                [self._joint_rands(ctx, self._joint_rand_seed(ctx, p))[None] for p in parts]
            )
        prove_rands = field.concat([self._prove_rands(ctx, s.prove_seed)[None] for s in seeds])
        leader_proofs = self._prove_batch(meas, prove_rands, joint_rands)
        for j in range(1, self.SHARES):
            helper_proofs = field.concat(
                [self._helper_proofs_share(ctx, j, s.shares[j - 1])[None] for s in seeds]
            )
            leader_proofs = field.sub(leader_proofs, helper_proofs)
        out = []
        for b, (nonce, s) in enumerate(zip(nonces, seeds, strict=True)):
            blind = s.leader_blind if self._joint else None
            leader = LeaderInputShare(leader_meas[b], leader_proofs[b], blind)
            helpers = [
                HelperInputShare(share, s.blinds[j] if self._joint else None)
                for j, share in enumerate(s.shares)
            ]
            public = PublicShare(tuple(parts[b]) if self._joint else None)
            out.append(ShardedReport(nonce, public, (leader, *helpers)))
        return out

    def _shard_seeds(self, nonce: bytes, rand: bytes) -> _ShardSeeds:
        """A report's random bytes cut into the draft's seeds."""
        if len(nonce) != self.NONCE_SIZE or len(rand) != self.RAND_SIZE:
            raise VdafParameterError(
                f"shard takes a {self.NONCE_SIZE}-byte nonce and {self.RAND_SIZE} random bytes"
            )
        size = self.xof.SEED_SIZE
        seeds = [rand[i : i + size] for i in range(0, self.RAND_SIZE, size)]
        helpers = self.SHARES - 1
        if self._joint:
            return _ShardSeeds(
                seeds[0 : 2 * helpers : 2],
                seeds[1 : 2 * helpers : 2],
                seeds[2 * helpers],
                seeds[2 * helpers + 1],
            )
        return _ShardSeeds(seeds[:helpers], [], b"", seeds[helpers])

    def _prove_batch(self, meas: Vec, prove_rands: Vec, joint_rands: Vec) -> Vec:
        circuit, field = self.circuit, self.field
        proofs = []
        for k in range(self.PROOFS):
            prove_rand = prove_rands[
                :, k * circuit.prove_rand_len : (k + 1) * circuit.prove_rand_len
            ]
            joint_rand = joint_rands[
                :, k * circuit.joint_rand_len : (k + 1) * circuit.joint_rand_len
            ]
            proofs.append(self.flp.prove_batch(meas, prove_rand, joint_rand))
        return field.concat(proofs, axis=1)

    # Preparation ----------------------------------------------------------

    def prep_init(
        self,
        verify_key: bytes,
        ctx: bytes,
        agg_id: int,
        nonce: bytes,
        public_share: PublicShare,
        input_share: InputShare,
    ) -> tuple[PrepState, PrepShare]:
        """Aggregator ``agg_id`` queries its input share: its state and its prep share."""
        [outcome] = self.prep_init_batch(
            verify_key, ctx, agg_id, [(nonce, public_share, input_share)]
        )
        if isinstance(outcome, VdafError):
            raise outcome
        return outcome

    def prep_init_batch(
        self,
        verify_key: bytes,
        ctx: bytes,
        agg_id: int,
        reports: Sequence[tuple[bytes, PublicShare, InputShare]],
    ) -> list[tuple[PrepState, PrepShare] | VdafError]:
        """:meth:`prep_init` for each ``(nonce, public share, input share)``, in order: its
        state and prep share, or the :class:`VdafError` that rejects that report alone.

        The XOF runs report by report; the FLP queries of up to :data:`BATCH_ELEMENTS`
        measurement elements run at once (numpy's per-call overhead, not the arithmetic,
        is what one short report costs). Each outcome is the one :meth:`prep_init` gives.
        """
        if len(verify_key) != self.VERIFY_KEY_SIZE:
            raise VdafParameterError(f"the verification key is {self.VERIFY_KEY_SIZE} bytes")
        if not 0 <= agg_id < self.SHARES:
            raise VdafParameterError(f"the aggregator id must be in [0, {self.SHARES})")
        outcomes: list[tuple[PrepState, PrepShare] | VdafError | None] = []
        ready: list[tuple[int, _Queryable]] = []
        for index, (nonce, public_share, input_share) in enumerate(reports):
            try:
                ready.append(
                    (
                        index,
                        self._queryable(verify_key, ctx, agg_id, nonce, public_share, input_share),
                    )
                )
            except VdafError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(None)  # filled in below
        step = max(1, BATCH_ELEMENTS // max(1, self.circuit.meas_len))
        for start in range(0, len(ready), step):
            chunk = ready[start : start + step]
            verifiers = self._query_batch([q for _, q in chunk])
            for (index, q), verifier in zip(chunk, verifiers, strict=True):
                state = PrepState(self.circuit.truncate(q.meas), q.corrected_seed)
                outcomes[index] = (state, PrepShare(verifier, q.part))
        return [outcome for outcome in outcomes if outcome is not None]

    def _queryable(
        self,
        verify_key: bytes,
        ctx: bytes,
        agg_id: int,
        nonce: bytes,
        public_share: PublicShare,
        input_share: InputShare,
    ) -> _Queryable:
        """One report's input to the FLP query, from its XOF expansions; raises
        :class:`VdafError` for a report to reject."""
        if len(nonce) != self.NONCE_SIZE:
            raise VdafDecodeError(f"a report nonce is {self.NONCE_SIZE} bytes")
        meas_share, proofs_share, blind = self._expand_input_share(ctx, agg_id, input_share)
        corrected_seed = part = None
        joint_rands = self.field.zeros((0,))
        if self._joint:
            parts = public_share.joint_rand_parts
            if blind is None or parts is None or len(parts) != self.SHARES:
                raise VdafDecodeError("this Prio3 needs joint randomness parts and blinds")
            part = self._joint_rand_part(ctx, agg_id, blind, meas_share, nonce)
            corrected_seed = self._joint_rand_seed(
                ctx, [part if j == agg_id else p for j, p in enumerate(parts)]
            )
            joint_rands = self._joint_rands(ctx, corrected_seed)
        elif public_share.joint_rand_parts is not None or blind is not None:
            raise VdafDecodeError("this Prio3 takes no joint randomness")
        query_rands = self._query_rands(verify_key, ctx, nonce)
        length = self.circuit.query_rand_len
        for k in range(self.PROOFS):
            self.flp.test_points(query_rands[k * length : (k + 1) * length])
        return _Queryable(meas_share, proofs_share, query_rands, joint_rands, part, corrected_seed)

    def _query_batch(self, reports: Sequence[_Queryable]) -> Vec:
        """Every report's verifier shares, one row per report."""
        circuit, field = self.circuit, self.field
        meas = field.concat([q.meas[None] for q in reports])
        proofs = field.concat([q.proofs[None] for q in reports])
        query_rands = field.concat([q.query_rands[None] for q in reports])
        joint_rands = field.concat([q.joint_rands[None] for q in reports])
        proof_len, query_len = circuit.proof_len, circuit.query_rand_len
        joint_len = circuit.joint_rand_len
        verifiers = [
            self.flp.query_batch(
                meas,
                proofs[:, k * proof_len : (k + 1) * proof_len],
                query_rands[:, k * query_len : (k + 1) * query_len],
                joint_rands[:, k * joint_len : (k + 1) * joint_len],
                self.SHARES,
            )
            for k in range(self.PROOFS)
        ]
        return field.concat(verifiers, axis=1)

    def prep_shares_to_prep(self, ctx: bytes, prep_shares: Sequence[PrepShare]) -> PrepMessage:
        """Combine every aggregator's prep share; raises :class:`VdafVerifyError` if a
        proof fails."""
        [message] = self.prep_shares_to_prep_batch(ctx, [prep_shares])
        if isinstance(message, VdafError):
            raise message
        return message

    def prep_shares_to_prep_batch(
        self, ctx: bytes, prep_shares: Sequence[Sequence[PrepShare]]
    ) -> list[PrepMessage | VdafError]:
        """:meth:`prep_shares_to_prep` for each report's prep shares, in order: its prep
        message, or the :class:`VdafError` that rejects that report alone. The proofs of
        all the reports are decided at once."""
        if any(len(shares) != self.SHARES for shares in prep_shares):
            raise VdafParameterError(f"preparation takes {self.SHARES} prep shares")
        if not prep_shares:
            return []
        field = self.field
        verifiers = field.concat([shares[0].verifiers_share[None] for shares in prep_shares])
        for j in range(1, self.SHARES):
            others = field.concat([shares[j].verifiers_share[None] for shares in prep_shares])
            verifiers = field.add(verifiers, others)
        length = self.circuit.verifier_len
        accept = np.ones(len(prep_shares), dtype=bool)
        for k in range(self.PROOFS):
            accept &= self.flp.decide_batch(verifiers[:, k * length : (k + 1) * length])
        return [
            self._prep_message(ctx, shares)
            if ok
            else VdafVerifyError("the report's proof failed verification; drop the report")
            for shares, ok in zip(prep_shares, accept, strict=True)
        ]

    def _prep_message(
        self, ctx: bytes, prep_shares: Sequence[PrepShare]
    ) -> PrepMessage | VdafError:
        """The prep message of a report whose proofs passed."""
        if not self._joint:
            return PrepMessage(None)
        parts = [share.joint_rand_part for share in prep_shares]
        if any(part is None for part in parts):
            return VdafDecodeError("every prep share of this Prio3 carries a joint randomness part")
        return PrepMessage(self._joint_rand_seed(ctx, [p for p in parts if p is not None]))

    def prep_next(self, ctx: bytes, state: PrepState, message: PrepMessage) -> OutputShare:
        """The output share, once the joint randomness the device used is confirmed;
        raises :class:`VdafVerifyError` otherwise."""
        if message.joint_rand_seed != state.corrected_joint_rand_seed:
            raise VdafVerifyError("the report's joint randomness check failed; drop the report")
        return OutputShare(state.out_share)

    # Aggregation and unsharding -------------------------------------------

    def aggregate(self, out_shares: Iterable[OutputShare]) -> AggregateShare:
        """The sum of output shares (``agg_init`` then ``agg_update`` for each)."""
        total = self.field.zeros((self.circuit.output_len,))
        for share in out_shares:
            total = self.field.add(total, share.values)
        return AggregateShare(total)

    def merge(self, agg_shares: Iterable[AggregateShare]) -> AggregateShare:
        """The sum of aggregate shares (the draft's ``merge``)."""
        return self.aggregate(OutputShare(share.values) for share in agg_shares)

    def unshard(self, agg_shares: Sequence[AggregateShare], num_measurements: int) -> R:
        """The aggregate result from every aggregator's aggregate share."""
        if len(agg_shares) != self.SHARES:
            raise VdafParameterError(f"unsharding takes {self.SHARES} aggregate shares")
        return self.circuit.decode(self.merge(agg_shares).values, num_measurements)

    # Encodings (draft section "Message Serialization") ----------------------

    def _seed(self, data: bytes, what: str) -> bytes:
        if len(data) != self.xof.SEED_SIZE:
            raise VdafDecodeError(f"{what} is {self.xof.SEED_SIZE} bytes")
        return data

    def _vector(self, data: bytes, length: int, what: str) -> Vec:
        if len(data) != length * self.field.encoded_size:
            raise VdafDecodeError(f"{what} is {length * self.field.encoded_size} bytes")
        return self.field.decode(data)

    def encode_public_share(self, share: PublicShare) -> bytes:
        """The public share's bytes: the joint randomness parts, or nothing."""
        return b"".join(share.joint_rand_parts or ())

    def decode_public_share(self, data: bytes) -> PublicShare:
        """Parse a public share; raises :class:`VdafDecodeError`."""
        if not self._joint:
            if data:
                raise VdafDecodeError("this Prio3's public share is empty")
            return PublicShare(None)
        size = self.xof.SEED_SIZE
        if len(data) != size * self.SHARES:
            raise VdafDecodeError(f"this Prio3's public share is {size * self.SHARES} bytes")
        return PublicShare(tuple(data[i : i + size] for i in range(0, len(data), size)))

    def encode_input_share(self, share: InputShare) -> bytes:
        """An input share's bytes."""
        blind = share.blind or b""
        if isinstance(share, LeaderInputShare):
            return (
                self.field.encode(share.meas_share) + self.field.encode(share.proofs_share) + blind
            )
        return share.seed + blind

    def decode_input_share(self, agg_id: int, data: bytes) -> InputShare:
        """Parse aggregator ``agg_id``'s input share; raises :class:`VdafDecodeError`."""
        size = self.xof.SEED_SIZE
        blind = None
        if self._joint:
            data, blind = data[:-size], self._seed(data[-size:], "a joint randomness blind")
        if agg_id > 0:
            return HelperInputShare(self._seed(data, "a helper's input share seed"), blind)
        width = self.field.encoded_size
        meas_bytes = self.circuit.meas_len * width
        proofs_len = self.circuit.proof_len * self.PROOFS
        if len(data) != meas_bytes + proofs_len * width:
            raise VdafDecodeError(
                f"the leader's input share is {meas_bytes + proofs_len * width} bytes"
                + (f" plus a {size}-byte blind" if self._joint else "")
            )
        meas = self.field.decode(data[:meas_bytes])
        return LeaderInputShare(meas, self.field.decode(data[meas_bytes:]), blind)

    def encode_prep_share(self, share: PrepShare) -> bytes:
        """A prep share's bytes (the draft's verifier share)."""
        return self.field.encode(share.verifiers_share) + (share.joint_rand_part or b"")

    def decode_prep_share(self, data: bytes) -> PrepShare:
        """Parse a prep share; raises :class:`VdafDecodeError`."""
        part = None
        if self._joint:
            size = self.xof.SEED_SIZE
            data, part = data[:-size], self._seed(data[-size:], "a joint randomness part")
        length = self.circuit.verifier_len * self.PROOFS
        return PrepShare(self._vector(data, length, "a prep share's verifiers"), part)

    def encode_prep_message(self, message: PrepMessage) -> bytes:
        """A prep message's bytes (the draft's verifier message)."""
        return message.joint_rand_seed or b""

    def decode_prep_message(self, data: bytes) -> PrepMessage:
        """Parse a prep message; raises :class:`VdafDecodeError`."""
        if not self._joint:
            if data:
                raise VdafDecodeError("this Prio3's prep message is empty")
            return PrepMessage(None)
        return PrepMessage(self._seed(data, "a prep message"))

    def encode_agg_share(self, share: AggregateShare) -> bytes:
        """An aggregate share's bytes."""
        return self.field.encode(share.values)

    def decode_agg_share(self, data: bytes) -> AggregateShare:
        """Parse an aggregate share; raises :class:`VdafDecodeError`."""
        return AggregateShare(self._vector(data, self.circuit.output_len, "an aggregate share"))

    # Derivations (draft section "Auxiliary Functions") ----------------------

    def _dst(self, usage: int, ctx: bytes) -> bytes:
        return format_dst(0, self.ID, usage) + ctx

    def _expand(self, seed: bytes, usage: int, ctx: bytes, binder: bytes, length: int) -> Vec:
        return self.xof.expand_into_vec(self.field, seed, self._dst(usage, ctx), binder, length)

    def _helper_meas_share(self, ctx: bytes, agg_id: int, share: bytes) -> Vec:
        binder = bytes([agg_id])
        return self._expand(share, USAGE_MEAS_SHARE, ctx, binder, self.circuit.meas_len)

    def _helper_proofs_share(self, ctx: bytes, agg_id: int, share: bytes) -> Vec:
        binder = bytes([self.PROOFS, agg_id])
        length = self.circuit.proof_len * self.PROOFS
        return self._expand(share, USAGE_PROOF_SHARE, ctx, binder, length)

    def _expand_input_share(
        self, ctx: bytes, agg_id: int, share: InputShare
    ) -> tuple[Vec, Vec, bytes | None]:
        if agg_id == 0 and isinstance(share, LeaderInputShare):
            return share.meas_share, share.proofs_share, share.blind
        if agg_id > 0 and isinstance(share, HelperInputShare):
            meas = self._helper_meas_share(ctx, agg_id, share.seed)
            return meas, self._helper_proofs_share(ctx, agg_id, share.seed), share.blind
        raise VdafDecodeError("aggregator 0 takes the leader's share, the others a helper's")

    def _prove_rands(self, ctx: bytes, seed: bytes) -> Vec:
        length = self.circuit.prove_rand_len * self.PROOFS
        return self._expand(seed, USAGE_PROVE_RANDOMNESS, ctx, bytes([self.PROOFS]), length)

    def _query_rands(self, verify_key: bytes, ctx: bytes, nonce: bytes) -> Vec:
        length = self.circuit.query_rand_len * self.PROOFS
        binder = bytes([self.PROOFS]) + nonce
        return self._expand(verify_key, USAGE_QUERY_RANDOMNESS, ctx, binder, length)

    def _joint_rand_part(
        self, ctx: bytes, agg_id: int, blind: bytes, meas_share: Vec, nonce: bytes
    ) -> bytes:
        binder = bytes([agg_id]) + nonce + self.field.encode(meas_share)
        return self.xof.derive_seed(blind, self._dst(USAGE_JOINT_RAND_PART, ctx), binder)

    def _joint_rand_seed(self, ctx: bytes, parts: Sequence[bytes]) -> bytes:
        dst = self._dst(USAGE_JOINT_RAND_SEED, ctx)
        return self.xof.derive_seed(bytes(self.xof.SEED_SIZE), dst, b"".join(parts))

    def _joint_rands(self, ctx: bytes, seed: bytes) -> Vec:
        length = self.circuit.joint_rand_len * self.PROOFS
        return self._expand(seed, USAGE_JOINT_RANDOMNESS, ctx, bytes([self.PROOFS]), length)

"""The generic FLP of the draft's section "FLP Specification" (BBCGGI19, Section 4.2).

A validity circuit (:class:`Circuit`, the draft's ``Valid``) says which gadget
calls it makes and how their outputs combine into the circuit's outputs; the
FLP proves, queries and decides over any such circuit. The draft records wire
values by wrapping each gadget and evaluating the circuit entry by entry; here
a circuit hands over every call's inputs at once (:meth:`Circuit.gadget_inputs`),
which is the same computation for circuits whose gadget inputs do not depend on
other gadgets' outputs (true of every circuit in the draft).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from discreet.vdaf.errors import VdafVerifyError
from discreet.vdaf.fields import Field, Vec
from discreet.vdaf.gadgets import Gadget, gadget_poly_len, wire_poly_len
from discreet.vdaf.polys import extend_values, lagrange_eval, next_power_of_2

__all__ = ["Circuit", "Flp"]

M = TypeVar("M")
R = TypeVar("R")


class Circuit(ABC, Generic[M, R]):
    """A validity circuit: its gadgets, how it encodes, checks, truncates and decodes.

    :meth:`gadget_inputs` and :meth:`outputs` work on a batch of reports at once: the
    measurements (shares) as element shape ``(reports, MEAS_LEN)`` and the joint
    randomness as ``(reports, JOINT_RAND_LEN)``.
    """

    field: Field
    gadgets: tuple[Gadget, ...]
    gadget_calls: tuple[int, ...]
    meas_len: int
    joint_rand_len: int
    eval_output_len: int
    output_len: int

    @abstractmethod
    def encode(self, measurement: M) -> Vec:
        """The encoded measurement (``MEAS_LEN`` elements); rejects what it cannot encode."""

    @abstractmethod
    def truncate(self, meas: Vec) -> Vec:
        """(A share of) the aggregatable output, ``OUTPUT_LEN`` elements."""

    @abstractmethod
    def decode(self, output: Vec, num_measurements: int) -> R:
        """The aggregate result from the sum of the aggregate shares."""

    @abstractmethod
    def gadget_inputs(self, meas: Vec, joint_rand: Vec, num_shares: int) -> list[Vec]:
        """Each gadget's inputs for all its calls of every report: element shape
        ``(arity, reports, calls)``."""

    @abstractmethod
    def outputs(
        self, meas: Vec, joint_rand: Vec, num_shares: int, gadget_outputs: Sequence[Vec]
    ) -> Vec:
        """The circuit's outputs (``(reports, EVAL_OUTPUT_LEN)``) from each gadget's call
        outputs (``(reports, calls)``)."""

    def eval(self, meas: Vec, joint_rand: Vec, num_shares: int) -> Vec:
        """The draft's ``valid.eval`` on one measurement: all zeros if and only if it is valid."""
        inputs = self.gadget_inputs(meas[None], joint_rand[None], num_shares)
        calls = [g.eval(self.field, x) for g, x in zip(self.gadgets, inputs, strict=True)]
        return _only(self.outputs(meas[None], joint_rand[None], num_shares, calls))

    def shares_inv(self, num_shares: int) -> Vec:
        """``1 / num_shares``, which scales every constant the circuit adds."""
        return self.field.scalar(self.field.inv(num_shares))

    @property
    def prove_rand_len(self) -> int:
        """Field elements of prover randomness: one wire seed per gadget wire."""
        return sum(g.arity for g in self.gadgets)

    @property
    def query_rand_len(self) -> int:
        """Field elements of query randomness."""
        extra = self.eval_output_len if self.eval_output_len > 1 else 0
        return len(self.gadgets) + extra

    @property
    def proof_len(self) -> int:
        """Field elements of one proof."""
        return sum(
            g.arity + gadget_poly_len(g.degree, wire_poly_len(calls))
            for g, calls in zip(self.gadgets, self.gadget_calls, strict=True)
        )

    @property
    def verifier_len(self) -> int:
        """Field elements of one verifier message."""
        return 1 + sum(g.arity + 1 for g in self.gadgets)


def _only(batch: Vec) -> Vec:
    """The one row of a batch of one report."""
    row: Vec = batch[0]
    return row


def _wires(field: Field, seeds: Vec, inputs: Vec, calls: int) -> Vec:
    """The wire polynomials of a gadget for a batch of reports (``(arity, reports, p)``):
    its seeds (``(reports, arity)``), then its inputs call by call, then zeros."""
    reports, arity = field.shape(seeds)
    wires = field.zeros((arity, reports, wire_poly_len(calls)))
    wires[:, :, 0] = np.swapaxes(seeds, 0, 1)
    wires[:, :, 1 : calls + 1] = inputs
    return wires


class Flp(Generic[M, R]):
    """Prove, query and decide for one validity circuit.

    :meth:`prove_batch` and :meth:`query_batch` take a batch of reports, each argument
    with a leading axis of one row per report; :meth:`prove` and :meth:`query` are the
    batch of one. Rows never mix: a report's result is the same in any batch.
    """

    def __init__(self, circuit: Circuit[M, R]) -> None:
        self.circuit = circuit
        self.field = circuit.field

    def _gadgets(self) -> list[tuple[Gadget, int]]:
        return list(zip(self.circuit.gadgets, self.circuit.gadget_calls, strict=True))

    def prove(self, meas: Vec, prove_rand: Vec, joint_rand: Vec) -> Vec:
        """One proof that ``meas`` is valid: per gadget, its wire seeds and its polynomial."""
        return _only(self.prove_batch(meas[None], prove_rand[None], joint_rand[None]))

    def prove_batch(self, meas: Vec, prove_rand: Vec, joint_rand: Vec) -> Vec:
        """:meth:`prove` for every row: element shape ``(reports, PROOF_LEN)``."""
        field = self.field
        inputs = self.circuit.gadget_inputs(meas, joint_rand, 1)
        proof = []
        offset = 0
        for (gadget, calls), gadget_inputs in zip(self._gadgets(), inputs, strict=True):
            seeds = prove_rand[:, offset : offset + gadget.arity]
            offset += gadget.arity
            wires = _wires(field, seeds, gadget_inputs, calls)
            poly = gadget.eval_poly(field, wires)
            proof += [seeds, poly[:, : gadget_poly_len(gadget.degree, wire_poly_len(calls))]]
        return field.concat(proof, axis=1)

    def test_points(self, query_rand: Vec) -> list[int]:
        """The points one query evaluates the gadget polynomials at (one per gadget);
        raises :class:`VdafVerifyError` if one is a point the wire polynomials are known at."""
        field, circuit = self.field, self.circuit
        skip = circuit.eval_output_len if circuit.eval_output_len > 1 else 0
        points = field.to_ints(query_rand[skip:])
        for (_, calls), t in zip(self._gadgets(), points, strict=True):
            if pow(t, wire_poly_len(calls), field.modulus) == 1:
                # t would be one of the wire polynomials' points: its values would leak.
                raise VdafVerifyError("the query's test point is a root of unity; drop the report")
        return points

    def query(
        self, meas: Vec, proof: Vec, query_rand: Vec, joint_rand: Vec, num_shares: int
    ) -> Vec:
        """(A share of) the verifier message from (a share of) the measurement and proof."""
        batch = (meas[None], proof[None], query_rand[None], joint_rand[None])
        return _only(self.query_batch(*batch, num_shares))

    def query_batch(
        self, meas: Vec, proof: Vec, query_rand: Vec, joint_rand: Vec, num_shares: int
    ) -> Vec:
        """:meth:`query` for every row: element shape ``(reports, VERIFIER_LEN)``; raises
        :class:`VdafVerifyError` if any row's test point is refused (see :meth:`test_points`:
        check rows one by one first to reject only those)."""
        field = self.field
        circuit = self.circuit
        points = [self.test_points(row) for row in query_rand]
        inputs = circuit.gadget_inputs(meas, joint_rand, num_shares)
        polys, wires, call_outputs = [], [], []
        offset = 0
        for (gadget, calls), gadget_inputs in zip(self._gadgets(), inputs, strict=True):
            p = wire_poly_len(calls)
            length = gadget_poly_len(gadget.degree, p)
            seeds = proof[:, offset : offset + gadget.arity]
            offset += gadget.arity
            size = next_power_of_2(length)
            poly = extend_values(field, proof[:, offset : offset + length], size)
            offset += length
            step = size // p
            polys.append(poly)
            wires.append(_wires(field, seeds, gadget_inputs, calls))
            call_outputs.append(poly[:, step : step * (calls + 1) : step])
        out = circuit.outputs(meas, joint_rand, num_shares, call_outputs)
        if circuit.eval_output_len > 1:
            weights = query_rand[:, : circuit.eval_output_len]
            reduced = field.sum(field.mul(weights, out), axis=1)
        else:
            reduced = out[:, 0]
        reports = len(points)
        verifier = [field.reshape(reduced, (reports, 1))]
        for g, (poly, gadget_wires) in enumerate(zip(polys, wires, strict=True)):
            at = [row[g] for row in points]
            verifier.append(np.swapaxes(lagrange_eval(field, gadget_wires, at), 0, 1))
            verifier.append(field.reshape(lagrange_eval(field, poly, at), (reports, 1)))
        return field.concat(verifier, axis=1)

    def decide(self, verifier: Vec) -> bool:
        """Whether the (whole) verifier message accepts."""
        return bool(self.decide_batch(verifier[None])[0])

    def decide_batch(self, verifiers: Vec) -> npt.NDArray[np.bool_]:
        """:meth:`decide` for every row of ``verifiers`` (``(reports, VERIFIER_LEN)``)."""
        field = self.field
        accept = _equal_rows(verifiers[:, 0], field.zeros(field.shape(verifiers)[:1]))
        offset = 1
        for gadget in self.circuit.gadgets:
            wire_checks = np.swapaxes(verifiers[:, offset : offset + gadget.arity], 0, 1)
            offset += gadget.arity
            accept &= _equal_rows(gadget.eval(field, wire_checks), verifiers[:, offset])
            offset += 1
        return accept


def _equal_rows(a: Vec, b: Vec) -> npt.NDArray[np.bool_]:
    """Which elements of two 1-D vectors are equal (elements are kept reduced)."""
    equal: npt.NDArray[np.bool_] = (a == b).reshape(len(a), -1).all(axis=1)
    return equal

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

from discreet.vdaf.errors import VdafVerifyError
from discreet.vdaf.fields import Field, Vec
from discreet.vdaf.gadgets import Gadget, gadget_poly_len, wire_poly_len
from discreet.vdaf.polys import extend_values, lagrange_eval, next_power_of_2

__all__ = ["Circuit", "Flp"]

M = TypeVar("M")
R = TypeVar("R")


class Circuit(ABC, Generic[M, R]):
    """A validity circuit: its gadgets, how it encodes, checks, truncates and decodes."""

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
        """Each gadget's inputs for all its calls: element shape ``(arity, calls)``."""

    @abstractmethod
    def outputs(
        self, meas: Vec, joint_rand: Vec, num_shares: int, gadget_outputs: Sequence[Vec]
    ) -> Vec:
        """The circuit's outputs (``EVAL_OUTPUT_LEN``) from each gadget's call outputs."""

    def eval(self, meas: Vec, joint_rand: Vec, num_shares: int) -> Vec:
        """The draft's ``valid.eval``: all zeros if and only if the measurement is valid."""
        inputs = self.gadget_inputs(meas, joint_rand, num_shares)
        calls = [g.eval(self.field, x) for g, x in zip(self.gadgets, inputs, strict=True)]
        return self.outputs(meas, joint_rand, num_shares, calls)

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


def _wires(field: Field, seeds: Vec, inputs: Vec, calls: int) -> Vec:
    """The wire polynomials of a gadget: its seed, then its inputs call by call, then zeros."""
    arity = field.shape(seeds)[0]
    wires = field.zeros((arity, wire_poly_len(calls)))
    wires[:, 0] = seeds
    wires[:, 1 : calls + 1] = inputs
    return wires


class Flp(Generic[M, R]):
    """Prove, query and decide for one validity circuit."""

    def __init__(self, circuit: Circuit[M, R]) -> None:
        self.circuit = circuit
        self.field = circuit.field

    def _gadgets(self) -> list[tuple[Gadget, int]]:
        return list(zip(self.circuit.gadgets, self.circuit.gadget_calls, strict=True))

    def prove(self, meas: Vec, prove_rand: Vec, joint_rand: Vec) -> Vec:
        """One proof that ``meas`` is valid: per gadget, its wire seeds and its polynomial."""
        field = self.field
        inputs = self.circuit.gadget_inputs(meas, joint_rand, 1)
        proof = []
        offset = 0
        for (gadget, calls), gadget_inputs in zip(self._gadgets(), inputs, strict=True):
            seeds = prove_rand[offset : offset + gadget.arity]
            offset += gadget.arity
            wires = _wires(field, seeds, gadget_inputs, calls)
            poly = gadget.eval_poly(field, wires)
            proof += [seeds, poly[: gadget_poly_len(gadget.degree, wire_poly_len(calls))]]
        return field.concat(proof)

    def query(
        self, meas: Vec, proof: Vec, query_rand: Vec, joint_rand: Vec, num_shares: int
    ) -> Vec:
        """(A share of) the verifier message from (a share of) the measurement and proof."""
        field = self.field
        circuit = self.circuit
        inputs = circuit.gadget_inputs(meas, joint_rand, num_shares)
        polys, wires, call_outputs = [], [], []
        offset = 0
        for (gadget, calls), gadget_inputs in zip(self._gadgets(), inputs, strict=True):
            p = wire_poly_len(calls)
            length = gadget_poly_len(gadget.degree, p)
            seeds = proof[offset : offset + gadget.arity]
            offset += gadget.arity
            size = next_power_of_2(length)
            poly = extend_values(field, proof[offset : offset + length], size)
            offset += length
            step = size // p
            polys.append(poly)
            wires.append(_wires(field, seeds, gadget_inputs, calls))
            call_outputs.append(poly[step : step * (calls + 1) : step])
        out = circuit.outputs(meas, joint_rand, num_shares, call_outputs)
        if circuit.eval_output_len > 1:
            reduced = field.sum(field.mul(query_rand[: circuit.eval_output_len], out))
            test_points = field.to_ints(query_rand[circuit.eval_output_len :])
        else:
            reduced = out[0]
            test_points = field.to_ints(query_rand)
        verifier = [field.reshape(reduced, (1,))]
        for poly, gadget_wires, t in zip(polys, wires, test_points, strict=True):
            p = field.shape(gadget_wires)[-1]
            if pow(t, p, field.modulus) == 1:
                # t would be one of the wire polynomials' points: its values would leak.
                raise VdafVerifyError("the query's test point is a root of unity; drop the report")
            verifier.append(lagrange_eval(field, gadget_wires, t))
            verifier.append(field.reshape(lagrange_eval(field, poly, t), (1,)))
        return field.concat(verifier)

    def decide(self, verifier: Vec) -> bool:
        """Whether the (whole) verifier message accepts."""
        field = self.field
        if field.to_ints(verifier[:1]) != [0]:
            return False
        offset = 1
        for gadget in self.circuit.gadgets:
            wire_checks = verifier[offset : offset + gadget.arity]
            offset += gadget.arity
            expected = field.to_ints(gadget.eval(field, wire_checks))
            if expected != field.to_ints(verifier[offset : offset + 1]):
                return False
            offset += 1
        return True

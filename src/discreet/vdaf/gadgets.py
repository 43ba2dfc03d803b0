"""The FLP gadgets of the draft's appendix "FLP Gadgets": Mul, PolyEval and ParallelSum.

A gadget is evaluated on all its calls at once. Its inputs are laid out wire
first: ``inputs[j]`` holds wire ``j`` of every call (element shape
``(arity, *calls)``), and ``eval_poly`` takes the wire polynomials in the
Lagrange basis (element shape ``(arity, *batch, p)``) and returns the gadget
polynomial's values at the ``next_power_of_2(gadget_poly_len(degree, p))``-th
roots of unity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from discreet.vdaf.fields import Field, Vec
from discreet.vdaf.polys import double_evaluations, inv_ntt, next_power_of_2, ntt

__all__ = ["Gadget", "Mul", "ParallelSum", "PolyEval", "gadget_poly_len", "wire_poly_len"]


def wire_poly_len(gadget_calls: int) -> int:
    """Values per wire polynomial: the seed plus one per call, rounded up to a power of two."""
    return next_power_of_2(1 + gadget_calls)


def gadget_poly_len(degree: int, wire_len: int) -> int:
    """Values of the gadget polynomial the proof carries."""
    return degree * (wire_len - 1) + 1


class Gadget(ABC):
    """A non-affine sub-circuit the FLP proves calls of."""

    arity: int
    degree: int

    @abstractmethod
    def eval(self, field: Field, inputs: Vec) -> Vec:
        """The gadget on each call: element shape ``(arity, *calls)`` to ``calls``."""

    @abstractmethod
    def eval_poly(self, field: Field, wires: Vec) -> Vec:
        """The gadget on polynomials in the Lagrange basis (``(arity, *batch, p)``)."""


class Mul(Gadget):
    """``x * y``."""

    arity = 2
    degree = 2

    def eval(self, field: Field, inputs: Vec) -> Vec:
        return field.mul(inputs[0], inputs[1])

    def eval_poly(self, field: Field, wires: Vec) -> Vec:
        doubled = double_evaluations(field, wires)
        return field.mul(doubled[0], doubled[1])


class PolyEval(Gadget):
    """``p(x)`` for a fixed polynomial ``p`` (integer coefficients, lowest degree first)."""

    arity = 1

    def __init__(self, coefficients: Sequence[int]) -> None:
        trimmed = list(coefficients)
        while trimmed and trimmed[-1] == 0:
            trimmed.pop()
        if not trimmed:
            raise ValueError("PolyEval needs a non-zero polynomial")
        self.coefficients = tuple(trimmed)
        self.degree = len(trimmed) - 1

    def _horner(self, field: Field, x: Vec) -> Vec:
        out = np.broadcast_to(field.scalar(self.coefficients[-1]), x.shape).copy()
        for c in reversed(self.coefficients[:-1]):
            out = field.add(field.mul(out, x), field.scalar(c))
        return out

    def eval(self, field: Field, inputs: Vec) -> Vec:
        return self._horner(field, inputs[0])

    def eval_poly(self, field: Field, wires: Vec) -> Vec:
        p = field.shape(wires)[-1]
        n = next_power_of_2(gadget_poly_len(self.degree, p))
        values = ntt(field, inv_ntt(field, wires[0], p), n)
        return self._horner(field, values)


class ParallelSum(Gadget):
    """The sum of ``count`` calls of a sub-circuit on consecutive groups of inputs."""

    def __init__(self, subcircuit: Gadget, count: int) -> None:
        self.subcircuit = subcircuit
        self.count = count
        self.arity = subcircuit.arity * count
        self.degree = subcircuit.degree

    def _grouped(self, field: Field, v: Vec) -> Vec:
        """``(count * sub_arity, *rest)`` to ``(sub_arity, count, *rest)``."""
        shape = field.shape(v)
        grouped = field.reshape(v, (self.count, self.subcircuit.arity, *shape[1:]))
        return np.swapaxes(grouped, 0, 1)

    def eval(self, field: Field, inputs: Vec) -> Vec:
        return field.sum(self.subcircuit.eval(field, self._grouped(field, inputs)))

    def eval_poly(self, field: Field, wires: Vec) -> Vec:
        return field.sum(self.subcircuit.eval_poly(field, self._grouped(field, wires)))

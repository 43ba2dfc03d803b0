"""The validity circuits of Prio3's variants (draft section "Variants").

Count checks ``x * (x - 1) = 0``; Sum checks each bit of a range-checked
encoding with ``PolyEval(x**2 - x)``; SumVec, Histogram and MultihotCountVec
check every entry for being a bit with one ``ParallelSum(Mul)`` gadget
weighted by powers of the joint randomness, and Histogram and
MultihotCountVec add a check on the number of ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from discreet.vdaf.errors import VdafMeasurementError, VdafParameterError
from discreet.vdaf.fields import Field, Vec
from discreet.vdaf.flp import Circuit
from discreet.vdaf.gadgets import Mul, ParallelSum, PolyEval

__all__ = [
    "Count",
    "Histogram",
    "MultihotCountVec",
    "Sum",
    "SumVec",
    "decode_range_checked_int",
    "encode_range_checked_int",
]

M = TypeVar("M")


def _range_weights(max_measurement: int) -> list[int]:
    """Powers of two for all but the last bit; the last makes the weights sum to the max."""
    bits = max_measurement.bit_length()
    rest = 2 ** (bits - 1) - 1
    return [1 << k for k in range(bits - 1)] + [max_measurement - rest]


def encode_range_checked_int(value: int, max_measurement: int) -> list[int]:
    """The draft's ``encode_range_checked_int``: bits whose weighted sum is ``value``."""
    if not 0 <= value <= max_measurement:
        raise VdafMeasurementError(f"a measurement must be an integer in [0, {max_measurement}]")
    bits = max_measurement.bit_length()
    rest_all_ones = 2 ** (bits - 1) - 1
    last = 0 if value <= rest_all_ones else 1
    rest = value if last == 0 else value - _range_weights(max_measurement)[-1]
    return [(rest >> k) & 1 for k in range(bits - 1)] + [last]


def decode_range_checked_int(field: Field, encoded: Vec, max_measurement: int) -> Vec:
    """The draft's ``decode_range_checked_int``, on the last element axis (linear: works
    on shares too)."""
    weights = field.from_ints(_range_weights(max_measurement))
    shape = field.shape(encoded)
    rows = field.reshape(encoded, (-1, shape[-1]))
    return field.reshape(field.dot(rows, weights), shape[:-1])


def _integer(value: object, what: str) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise VdafMeasurementError(f"{what} must be an integer")
    return int(value)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise VdafParameterError(message)


class Count(Circuit[int, int]):
    """Prio3Count's circuit: the measurement is 0 or 1."""

    def __init__(self, field: Field) -> None:
        self.field = field
        self.gadgets = (Mul(),)
        self.gadget_calls = (1,)
        self.meas_len = 1
        self.joint_rand_len = 0
        self.eval_output_len = 1
        self.output_len = 1

    def encode(self, measurement: int) -> Vec:
        if isinstance(measurement, bool | np.bool_):
            measurement = int(measurement)
        if _integer(measurement, "a Count measurement") not in (0, 1):
            raise VdafMeasurementError("a Count measurement must be 0 or 1")
        return self.field.from_ints([measurement])

    def gadget_inputs(self, meas: Vec, joint_rand: Vec, num_shares: int) -> list[Vec]:
        return [np.stack([meas[:, :1], meas[:, :1]])]

    def outputs(
        self, meas: Vec, joint_rand: Vec, num_shares: int, gadget_outputs: Sequence[Vec]
    ) -> Vec:
        return self.field.sub(gadget_outputs[0], meas[:, :1])

    def truncate(self, meas: Vec) -> Vec:
        return meas

    def decode(self, output: Vec, num_measurements: int) -> int:
        return self.field.to_ints(output)[0]


class Sum(Circuit[int, int]):
    """Prio3Sum's circuit: an integer in ``[0, max_measurement]``, checked bit by bit."""

    def __init__(self, field: Field, max_measurement: int) -> None:
        _require(0 < max_measurement < field.modulus, "max_measurement must be positive")
        self.field = field
        self.max_measurement = max_measurement
        self.bits = max_measurement.bit_length()
        self.gadgets = (PolyEval([0, -1, 1]),)
        self.gadget_calls = (self.bits,)
        self.meas_len = self.bits
        self.joint_rand_len = 0
        self.eval_output_len = self.bits
        self.output_len = 1

    def encode(self, measurement: int) -> Vec:
        value = _integer(measurement, "a Sum measurement")
        return self.field.from_ints(encode_range_checked_int(value, self.max_measurement))

    def gadget_inputs(self, meas: Vec, joint_rand: Vec, num_shares: int) -> list[Vec]:
        return [meas[None]]

    def outputs(
        self, meas: Vec, joint_rand: Vec, num_shares: int, gadget_outputs: Sequence[Vec]
    ) -> Vec:
        return gadget_outputs[0]

    def truncate(self, meas: Vec) -> Vec:
        return self.field.reshape(
            decode_range_checked_int(self.field, meas, self.max_measurement), (1,)
        )

    def decode(self, output: Vec, num_measurements: int) -> int:
        return self.field.to_ints(output)[0]


class _ChunkedBitCheck(Circuit[M, list[int]]):
    """What SumVec, Histogram and MultihotCountVec share: every entry of the encoded
    measurement is checked for being a bit by one ``ParallelSum(Mul, chunk_length)``
    gadget, call ``i`` weighting entry ``j`` of its chunk by ``joint_rand[i]**(j+1)``.
    """

    def _shape(
        self, field: Field, meas_len: int, output_len: int, chunk_length: int, outputs: int
    ) -> None:
        _require(chunk_length > 0, "chunk_length must be positive")
        self.field = field
        self.chunk_length = chunk_length
        calls = -(-meas_len // chunk_length)
        self.gadgets = (ParallelSum(Mul(), chunk_length),)
        self.gadget_calls = (calls,)
        self.meas_len = meas_len
        self.joint_rand_len = calls
        self.eval_output_len = outputs
        self.output_len = output_len

    def gadget_inputs(self, meas: Vec, joint_rand: Vec, num_shares: int) -> list[Vec]:
        field = self.field
        calls, chunk = self.gadget_calls[0], self.chunk_length
        reports = field.shape(meas)[0]
        padded = field.zeros((reports, calls * chunk))
        padded[:, : self.meas_len] = meas
        entries = field.reshape(padded, (reports, calls, chunk))
        powers = field.powers(field.reshape(joint_rand, (reports * calls,)), chunk)
        weighted = field.mul(field.reshape(powers, (reports, calls, chunk)), entries)
        shifted = field.sub(entries, self.shares_inv(num_shares))
        pairs = np.stack([weighted, shifted], axis=3)
        return [np.moveaxis(field.reshape(pairs, (reports, calls, 2 * chunk)), 2, 0)]

    def _range_check(self, gadget_outputs: Sequence[Vec]) -> Vec:
        checks = self.field.sum(gadget_outputs[0], axis=1)
        return self.field.reshape(checks, (self.field.shape(checks)[0], 1))

    def decode(self, output: Vec, num_measurements: int) -> list[int]:
        return self.field.to_ints(output)


def _bits_array(values: object, length: int, what: str) -> npt.NDArray[np.uint64]:
    array = np.asarray(values)
    if array.shape != (length,) or array.dtype.kind not in "biu":
        raise VdafMeasurementError(f"{what} must be {length} integers")
    if length and not bool(((array == 0) | (array == 1)).all()):
        raise VdafMeasurementError(f"every entry of {what} must be 0 or 1")
    return array.astype(np.uint64)


class SumVec(_ChunkedBitCheck[Sequence[int]]):
    """Prio3SumVec's circuit: ``length`` integers, each in ``[0, max_measurement]``."""

    def __init__(self, field: Field, length: int, max_measurement: int, chunk_length: int) -> None:
        _require(length > 0, "length must be positive")
        _require(0 < max_measurement < field.modulus, "max_measurement must be positive")
        self.length = length
        self.max_measurement = max_measurement
        self.bits = max_measurement.bit_length()
        self._shape(field, length * self.bits, length, chunk_length, 1)

    def encode(self, measurement: Sequence[int]) -> Vec:
        values = list(measurement)
        if len(values) != self.length:
            raise VdafMeasurementError(f"a SumVec measurement must have {self.length} entries")
        bits = [
            bit
            for value in values
            for bit in encode_range_checked_int(
                _integer(value, "each SumVec entry"), self.max_measurement
            )
        ]
        return self.field.from_uint64(np.array(bits, dtype=np.uint64))

    def outputs(
        self, meas: Vec, joint_rand: Vec, num_shares: int, gadget_outputs: Sequence[Vec]
    ) -> Vec:
        return self._range_check(gadget_outputs)

    def truncate(self, meas: Vec) -> Vec:
        rows = self.field.reshape(meas, (self.length, self.bits))
        return decode_range_checked_int(self.field, rows, self.max_measurement)


class Histogram(_ChunkedBitCheck[int]):
    """Prio3Histogram's circuit: a one-hot vector of ``length`` buckets."""

    def __init__(self, field: Field, length: int, chunk_length: int) -> None:
        _require(0 < length < field.modulus, "length must be positive")
        self.length = length
        self._shape(field, length, length, chunk_length, 2)

    def encode(self, measurement: int) -> Vec:
        index = _integer(measurement, "a Histogram measurement")
        if not 0 <= index < self.length:
            raise VdafMeasurementError(f"a Histogram bucket must be in [0, {self.length})")
        one_hot = np.zeros(self.length, dtype=np.uint64)
        one_hot[index] = 1
        return self.field.from_uint64(one_hot)

    def outputs(
        self, meas: Vec, joint_rand: Vec, num_shares: int, gadget_outputs: Sequence[Vec]
    ) -> Vec:
        field = self.field
        ones = field.sub(field.sum(meas, axis=1), self.shares_inv(num_shares))
        ones = field.reshape(ones, (field.shape(meas)[0], 1))
        return field.concat([self._range_check(gadget_outputs), ones], axis=1)

    def truncate(self, meas: Vec) -> Vec:
        return meas


class MultihotCountVec(_ChunkedBitCheck[Sequence[bool]]):
    """Prio3MultihotCountVec's circuit: ``length`` bits, at most ``max_weight`` of them set.

    The encoding appends the weight, range-checked like a Sum measurement; the
    circuit checks every entry is a bit and that the weight is the number of ones.
    """

    def __init__(self, field: Field, length: int, max_weight: int, chunk_length: int) -> None:
        _require(0 < length < field.modulus, "length must be positive")
        _require(0 < max_weight <= length, "max_weight must be in [1, length]")
        self.length = length
        self.max_weight = max_weight
        self.bits_for_weight = max_weight.bit_length()
        self._shape(field, length + self.bits_for_weight, length, chunk_length, 2)

    def encode(self, measurement: Sequence[bool]) -> Vec:
        counts = _bits_array(measurement, self.length, "a MultihotCountVec measurement")
        weight = int(counts.sum())
        if weight > self.max_weight:
            raise VdafMeasurementError(
                f"a MultihotCountVec measurement may have at most {self.max_weight} ones"
            )
        weight_bits = encode_range_checked_int(weight, self.max_weight)
        encoded = np.concatenate([counts, np.array(weight_bits, dtype=np.uint64)])
        return self.field.from_uint64(encoded)

    def outputs(
        self, meas: Vec, joint_rand: Vec, num_shares: int, gadget_outputs: Sequence[Vec]
    ) -> Vec:
        field = self.field
        weight = field.sum(meas[:, : self.length], axis=1)
        reported = decode_range_checked_int(field, meas[:, self.length :], self.max_weight)
        weight_check = field.reshape(field.sub(weight, reported), (field.shape(meas)[0], 1))
        return field.concat([self._range_check(gadget_outputs), weight_check], axis=1)

    def truncate(self, meas: Vec) -> Vec:
        return meas[: self.length]

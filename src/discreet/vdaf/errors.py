"""The failures of Prio3, each its own class, under one root.

The tree::

    VdafError                   anything this package refuses
    ├── VdafParameterError      a VDAF instance with impossible parameters
    ├── VdafMeasurementError    the device's measurement does not fit the VDAF
    ├── VdafDecodeError         a message of the wrong length, or a field element out of range
    └── VdafVerifyError         the proof or the joint-randomness check failed: reject the report

The package is a leaf (it imports nothing else of discreet), so its root is
not :class:`discreet.errors.DiscreetError`; the aggregators and the device map
these onto their own errors. Every message is one line and names no
measurement value.
"""

from __future__ import annotations

__all__ = [
    "VdafDecodeError",
    "VdafError",
    "VdafMeasurementError",
    "VdafParameterError",
    "VdafVerifyError",
]


class VdafError(Exception):
    """Base class of every error this package raises on purpose."""


class VdafParameterError(VdafError, ValueError):
    """The VDAF's parameters are out of range (a length, a bound, a share count)."""


class VdafMeasurementError(VdafError, ValueError):
    """A measurement the VDAF cannot encode: wrong type, wrong length or out of bounds."""


class VdafDecodeError(VdafError, ValueError):
    """A share or message that is not the encoding the draft prescribes: reject it."""


class VdafVerifyError(VdafError):
    """Preparation failed (a proof or a joint-randomness check): drop the report."""

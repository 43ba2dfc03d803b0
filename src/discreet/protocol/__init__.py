"""What both sides of the wire share: reporting parameters, reports, oracles, the batch codec.

A leaf package: it imports nothing else of discreet, so the device
(``profile``, ``sync``, ``engine``) and the service (``server``, ``publish``)
can both depend on it without depending on each other. Each frequency
oracle is one module behind :class:`FrequencyOracle`, found by name only
through :mod:`discreet.protocol.mechanisms`.
"""

from discreet.protocol.grr import RandomisedResponse
from discreet.protocol.lh import LocalHashing
from discreet.protocol.mechanisms import MECHANISMS, choose_oracle, oracle_from_json
from discreet.protocol.oracle import FrequencyOracle, optimal_variance
from discreet.protocol.params import KindParams, ReportingParams, ReportingPolicy
from discreet.protocol.randomness import production_rng
from discreet.protocol.report import KINDS, REPORT_BYTES, Report, period_code, period_of
from discreet.protocol.sketch import Sketch
from discreet.protocol.wire import Limits, WireError, decode_batch, encode_batch

__all__ = [
    "KINDS",
    "MECHANISMS",
    "REPORT_BYTES",
    "FrequencyOracle",
    "KindParams",
    "Limits",
    "LocalHashing",
    "RandomisedResponse",
    "Report",
    "ReportingParams",
    "ReportingPolicy",
    "Sketch",
    "WireError",
    "choose_oracle",
    "decode_batch",
    "encode_batch",
    "optimal_variance",
    "oracle_from_json",
    "period_code",
    "period_of",
    "production_rng",
]

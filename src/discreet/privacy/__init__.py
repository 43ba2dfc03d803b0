"""Private reports: ε-LDP frequency oracles, the report record, budget, aggregation."""

from discreet.privacy.aggregate import Aggregator, Estimates, Sketch
from discreet.privacy.client import Preview, prepare_reports, production_rng
from discreet.privacy.oracles import OracleParams
from discreet.privacy.params import KindParams, ReportingParams
from discreet.privacy.report import REPORT_BYTES, Report, period_of

__all__ = [
    "REPORT_BYTES",
    "Aggregator",
    "Estimates",
    "KindParams",
    "OracleParams",
    "Preview",
    "Report",
    "ReportingParams",
    "Sketch",
    "period_of",
    "prepare_reports",
    "production_rng",
]

"""The publisher's service: catalog hosting, report ingestion, estimates."""

from discreet.server.storage import IngestResult, ReportStore
from discreet.server.wire import Limits

__all__ = ["IngestResult", "Limits", "ReportStore"]

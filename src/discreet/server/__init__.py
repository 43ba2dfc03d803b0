"""The publisher's service: catalog hosting, report ingestion, estimates."""

from discreet.protocol.wire import Limits
from discreet.server.storage import IngestResult, ReportStore

__all__ = ["IngestResult", "Limits", "ReportStore"]

"""The services' logs: levelled, as text or JSON lines, quiet by default, never a client address.

:func:`configure_logging` sends the ``discreet`` and ``uvicorn`` loggers to one
handler on standard error, at one level (``warning`` by default: only what an
operator must act on). uvicorn's access log, the one place that would name
clients, is off in every config we run (:func:`discreet.server.run.guarded_config`)
and, should anything turn it on, dropped by the handler's filter; no handler in
the apps logs a request's address, headers or body.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import TextIO

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_LOG_FORMAT = "text"
DEFAULT_LOG_LEVEL = "warning"
#: The loggers the services write to: ours, and the server's own (startup, errors).
SERVICE_LOGGERS = ("discreet", "uvicorn")
_ACCESS_LOGGER = "uvicorn.access"


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class NoAccessLog(logging.Filter):
    """Drops uvicorn's access records, which name the client, whatever uvicorn was told."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(_ACCESS_LOGGER)


def configure_logging(
    log_format: str = DEFAULT_LOG_FORMAT,
    level: str = DEFAULT_LOG_LEVEL,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send the service loggers to ``stream`` (standard error) at ``level``; return the handler.

    Raises ``ValueError`` for a format or level not in :data:`LOG_FORMATS`, :data:`LOG_LEVELS`.
    """
    if log_format not in LOG_FORMATS or level not in LOG_LEVELS:
        raise ValueError(f"the log format is one of {LOG_FORMATS}, the level one of {LOG_LEVELS}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonLines()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(NoAccessLog())
    for name in SERVICE_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger(_ACCESS_LOGGER).disabled = True
    return handler

"""How the `fleet` command logs: every line escaped, as text or as JSON lines.

Log messages often carry what callers sent (a pause reason, a robot id, a fault text). The
formatters here escape control characters, newlines and terminal escape codes in every
message (`fleet.model.escape`), so a caller can neither forge a log line nor colour an
operator's terminal; `--log-format json` writes one JSON object per line for log shippers.
"""

from __future__ import annotations

import enum
import json
import logging
import time

from fleet.model import escape

__all__ = ["EscapingFormatter", "JsonFormatter", "LogFormat", "configure_logging"]


class LogFormat(enum.Enum):
    """The shapes of the log."""

    TEXT = "text"
    JSON = "json"


class EscapingFormatter(logging.Formatter):
    """The usual text format, with the message escaped (a traceback, written by the server
    itself, stays as it is)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, and the
    traceback if there is one. json.dumps escapes every control character."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=True)


def configure_logging(level: str, log_format: LogFormat = LogFormat.TEXT) -> None:
    """Send the root logger's records to stderr at `level`, in `log_format`."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.JSON
                         else EscapingFormatter("%(asctime)s %(levelname)s %(name)s: "
                                                "%(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())

"""One log format for the gateway, uvicorn, Alembic and taskiq: text for people, JSON lines for machines."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

import orjson

__all__ = ["FORMATS", "JsonFormatter", "TextFormatter", "configure_logging", "log_event", "uvicorn_log_config"]

FORMATS: Final = ("text", "json")
_FIELDS = "gateway_fields"
"""The ``extra`` key under which :func:`log_event` hands its fields to the formatters."""
# ``color_message``: uvicorn's copy of its message with terminal colour codes, which neither format shows.
_RECORD_KEYS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


def log_event(logger: logging.Logger, message: str, /, *, severity: int = logging.INFO, **fields: Any) -> None:
    """Log ``message`` with structured ``fields``: JSON keys in json format, ``key=value`` pairs in text."""
    if logger.isEnabledFor(severity):
        # Built directly, without the walk up the stack for the caller's file and line: neither format shows
        # them, and the walk is a good part of a record's cost (the delivery engine logs every attempt).
        logger.handle(logger.makeRecord(logger.name, severity, "", 0, message, (), None, extra={_FIELDS: fields}))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's structured fields: those of :func:`log_event` plus any plain ``extra=`` keys."""
    attrs = vars(record)
    extra = attrs.keys() - _RECORD_KEYS
    extra.discard(_FIELDS)
    found = {k: v for k, v in attrs.items() if k in extra} if extra else {}
    found.update(attrs.get(_FIELDS) or {})
    return found


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger>: <message> key=value ...`` on one line, then any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of text (plus its traceback, if any)."""
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        pairs = " ".join(f"{k}={_text(v)}" for k, v in _fields(record).items())
        if pairs:
            line = f"{line} {pairs}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return orjson.dumps(text).decode() if any(c in text for c in ' "=\n') else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the extra keys, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON; the fixed keys win over an extra key of the same name."""
        entry: dict[str, Any] = _fields(record)
        entry.update(
            ts=_timestamp(record), level=record.levelname, logger=record.name, message=record.getMessage()
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def _formatter(fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send every logger (gateway, uvicorn, Alembic, taskiq) through one stderr handler in ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # Python's warnings too, instead of raw text on stderr
    # Libraries that install handlers of their own would print a second, differently formatted copy.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "taskiq", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # taskiq reports every task at INFO; the gateway logs deliveries itself.
    logging.getLogger("taskiq.receiver").addFilter(_expected_stop)
    logging.getLogger("taskiq").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


def _expected_stop(record: logging.LogRecord) -> bool:
    """False for taskiq's warning that its listener was cancelled: that is how every worker stops."""
    return not str(record.msg).startswith("The listenig task was cancelled")


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's ``log_config``: no handlers of its own, so its records reach the root handler above."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
        },
    }

"""One log format for every library: JSON lines with fixed keys, or text with key=value pairs."""

from __future__ import annotations

import logging
import logging.config
import warnings
from datetime import datetime

import orjson
import pytest

from gateway.logs import JsonFormatter, TextFormatter, configure_logging, log_event, uvicorn_log_config

pytestmark = pytest.mark.usefixtures("restored_logging")


def _json_lines(err: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in err.splitlines() if line]


def test_log_event_writes_one_json_object_with_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    log_event(
        logging.getLogger("gateway.delivery"),
        "attempt",
        delivery="dlv_1",
        webhook="wh_1",
        event="evt_1",
        status=200,
        outcome="delivered",
        ms=12.5,
    )
    (line,) = capsys.readouterr().err.splitlines()
    entry = orjson.loads(line)
    assert entry == {
        "ts": entry["ts"],
        "level": "INFO",
        "logger": "gateway.delivery",
        "message": "attempt",
        "delivery": "dlv_1",
        "webhook": "wh_1",
        "event": "evt_1",
        "status": 200,
        "outcome": "delivered",
        "ms": 12.5,
    }
    assert datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00")).tzinfo is not None


def test_fixed_keys_win_over_fields_of_the_same_name(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    log_event(logging.getLogger("gateway"), "real message", message="spoof", level="x", ts=1)
    entry = _json_lines(capsys.readouterr().err)[0]
    assert entry["message"] == "real message"
    assert entry["level"] == "INFO"
    assert isinstance(entry["ts"], str)


def test_log_event_respects_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    log_event(logging.getLogger("gateway"), "quiet", delivery="d")
    log_event(logging.getLogger("gateway"), "loud", severity=logging.WARNING, delivery="d")
    assert [e["message"] for e in _json_lines(capsys.readouterr().err)] == ["loud"]


def test_exceptions_stay_inside_their_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("gateway").exception("failed")
    (entry,) = _json_lines(capsys.readouterr().err)
    assert entry["message"] == "failed"
    assert "RuntimeError: boom" in str(entry["exception"])


def test_text_format_is_one_line_with_key_value_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text")
    log_event(logging.getLogger("gateway"), "attempt", delivery="dlv_1", error="read timed out", status=None)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(' INFO gateway: attempt delivery=dlv_1 error="read timed out" status=null')


@pytest.mark.parametrize("name", ["uvicorn.error", "alembic.runtime.migration", "taskiq.receiver"])
def test_library_loggers_share_the_format(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    logging.config.dictConfig(uvicorn_log_config())
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler())  # as a stray library handler would
    configure_logging("INFO", "json")
    logging.getLogger(name).warning("hello from %s", name)
    (entry,) = _json_lines(capsys.readouterr().err)
    assert (entry["logger"], entry["message"]) == (name, f"hello from {name}")


def test_taskiq_listener_cancelled_at_stop_is_not_logged(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", "json")
    logging.getLogger("taskiq.receiver").warning("The listenig task was cancelled.")
    logging.getLogger("taskiq.receiver").warning("Exception found while listening to the broker. %s", "x")
    assert [e["message"] for e in _json_lines(capsys.readouterr().err)] == [
        "Exception found while listening to the broker. x"
    ]


def test_python_warnings_share_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    logging.captureWarnings(False)  # pytest swaps the warnings hook per test: start from the plain one
    try:
        with warnings.catch_warnings():
            configure_logging("INFO", "json")
            warnings.simplefilter("always")
            warnings.warn("a deprecated setting", DeprecationWarning, stacklevel=1)
    finally:
        logging.captureWarnings(False)
    (entry,) = _json_lines(capsys.readouterr().err)
    assert (entry["level"], entry["logger"]) == ("WARNING", "py.warnings")
    assert "a deprecated setting" in str(entry["message"])


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json"):
        configure_logging("INFO", "xml")


def test_uvicorn_colour_copy_of_a_message_is_not_a_field() -> None:
    record = logging.makeLogRecord(
        {
            "name": "uvicorn.error",
            "msg": "Uvicorn running on %s",
            "args": ("http://x",),
            "color_message": "\x1b[1m%s",
        }
    )
    line = TextFormatter().format(record)
    assert line.endswith("uvicorn.error: Uvicorn running on http://x")
    assert "\x1b" not in JsonFormatter().format(record)

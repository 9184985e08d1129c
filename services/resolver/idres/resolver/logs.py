"""Log lines for people (text) and for log pipelines (JSON, one object a line, with the trace
and span ids of the call that logged).

No log call in idres passes a record's contents. As a second line of defence, both formats
replace anything shaped like an email address or a phone number in messages and exception
text, since an exception from a library may quote the value it failed on. Names have no shape
to catch: keeping them out is the log calls' job.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
# 9 to 15 digits with the separators people type, not part of a longer word, number or
# address, so timestamps, ports and counts stay readable.
_PHONE = re.compile(r"(?<![\w.:/-])\+?\d(?:[ ()-]{0,2}\d){8,14}(?![\w.:/-])")


def scrub(text: str) -> str:
    """`text` with email addresses and phone numbers replaced by what they were."""
    if "@" in text:
        text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


class TextFormatter(logging.Formatter):
    """The usual one-line text, scrubbed."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        scrubbed = copy.copy(record)  # other handlers see the record as logged
        scrubbed.message = scrub(record.message)
        return super().formatMessage(scrubbed)

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return scrub(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "trace_id", "span_id", "exception"}`: the ids
    when logged inside a span, the exception's text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = trace.format_trace_id(span.trace_id)
            entry["span_id"] = trace.format_span_id(span.span_id)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of a `log_format` setting: `json` or `text`."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: str) -> None:
    """Formats the root logger's lines (on stderr when it has no handler yet)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(formatter(log_format))

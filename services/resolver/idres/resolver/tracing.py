"""Inner spans of a call (retrieval, scoring, the database), through the OpenTelemetry API only.

A span is recorded by the tracer of the call it belongs to, which the server's call telemetry
puts in the context; outside a call (batch jobs, the CLI) the global tracer records it. With
no SDK configured both are no-ops, so a span costs a few microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import Token
from types import TracebackType

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

TRACER_KEY = context.create_key("idres.tracer")
DATABASE: Mapping[str, AttributeValue] = {"db.system.name": "postgresql"}
_GLOBAL = trace.get_tracer("idres.resolver")


def current_tracer() -> trace.Tracer:
    """The tracer of the call being served, else the global one."""
    found = context.get_value(TRACER_KEY)
    return found if isinstance(found, trace.Tracer) else _GLOBAL


class span:  # noqa: N801 (used as a function: `with span("idres.scoring"):`)
    """A child span of the current one, current while the `with` lasts. An exception marks
    it as an error by its type only: messages can quote what a caller sent, and spans leave
    the process. A plain class, not the API's nested generators: this runs on every call."""

    __slots__ = ("_span", "_token")

    def __init__(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        self._span = current_tracer().start_span(name, attributes=attributes)
        self._token: Token[Context] | None = None

    def __enter__(self) -> Span:
        # A no-op tracer hands back the current span itself: nothing to make current then.
        if self._span is not trace.get_current_span():
            self._token = context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            self._span.set_status(Status(StatusCode.ERROR, kind.__name__))
        if self._token is not None:
            context.detach(self._token)
        self._span.end()

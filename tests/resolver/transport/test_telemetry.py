"""Telemetry through a real server: a span and a duration per call with method and status,
inner spans under the call's, the standard OTEL_ variables, a Prometheus scrape endpoint, and
JSON log lines that carry trace ids and no personal data."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from idres.resolver.domain.errors import ValidationError
from idres.resolver.logs import JsonFormatter, TextFormatter, scrub
from idres.resolver.settings import Settings
from idres.resolver.telemetry import Telemetry, build_telemetry
from idres.resolver.transport.instrumentation import CallTelemetry
from idres.resolver.transport.server import create_server
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc
from tests.resolver.transport.calls import observe

SERVICE = "idres.v1.IdentityService"
PERSON = {
    "given_name": "Philippa",
    "surname": "Quennell",
    "email": "philippa.quennell@post.co.uk",
    "phone": "07700 900461",
}
E164 = "+447700900461"


@dataclass
class Served:
    stub: rpc.IdentityServiceStub
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    telemetry: Telemetry

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def calls(self, expected: int) -> dict[str, list[ReadableSpan]]:
        """The server spans by method, once `expected` calls have ended: an aborted call's
        status reaches the caller before the server's handler has unwound."""
        for _ in range(1000):
            if sum(s.kind is SpanKind.SERVER for s in self.finished()) >= expected:
                break
            time.sleep(0.01)
        found: dict[str, list[ReadableSpan]] = {}
        for span in self.finished():
            if span.kind is SpanKind.SERVER:
                method = (span.attributes or {}).get("rpc.method")
                found.setdefault(str(method), []).append(span)
        return found

    def durations(self) -> list[HistogramDataPoint]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == "rpc.server.call.duration"
            for point in metric.data.data_points
            if isinstance(point, HistogramDataPoint)
        ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A server whose calls are traced and measured in memory, with a scrape endpoint."""
    for variable in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER"):
        monkeypatch.setenv(variable, "none")
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = build_telemetry(
        replace(settings, metrics_port=_free_port()),
        span_processors=[SimpleSpanProcessor(spans)],
        metric_readers=[reader],
    )
    calls = CallTelemetry(telemetry.tracer_provider, telemetry.meter_provider)
    server = create_server(settings, telemetry=calls)
    server.start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            yield Served(rpc.IdentityServiceStub(channel), spans, reader, telemetry)
    finally:
        server.stop(grace=0)
        telemetry.shutdown()


def _descendants(root: ReadableSpan, spans: list[ReadableSpan]) -> set[str]:
    """The names of the spans under `root`, at any depth."""
    assert root.context is not None
    below = {root.context.span_id}
    names: set[str] = set()
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        if span.parent is not None and span.parent.span_id in below:
            assert span.context is not None and span.context.trace_id == root.context.trace_id
            below.add(span.context.span_id)
            names.add(span.name)
    return names


def test_each_call_has_a_server_span_with_its_status_and_inner_spans(served: Served) -> None:
    created = observe(served.stub, "t1", **PERSON)
    served.stub.Resolve(pb.ResolveRequest(email=PERSON["email"], channel="call_centre"), timeout=5)
    served.stub.GetCustomer(pb.GetCustomerRequest(customer_id=created.customer_id), timeout=5)
    with pytest.raises(grpc.RpcError) as missing:
        served.stub.GetCustomer(pb.GetCustomerRequest(customer_id="nobody"), timeout=5)
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND

    calls, spans = served.calls(4), served.finished()
    (observed,) = calls["Observe"]
    assert observed.name == f"{SERVICE}/Observe"
    assert observed.attributes is not None
    assert dict(observed.attributes) == {
        "rpc.system": "grpc",
        "rpc.service": SERVICE,
        "rpc.method": "Observe",
        "rpc.grpc.status_code": 0,
    }
    assert {"idres.observe", "idres.database", "idres.retrieval", "idres.scoring"} <= (
        _descendants(observed, spans)
    )
    (resolved,) = calls["Resolve"]
    assert resolved.attributes is not None
    assert resolved.attributes["idres.channel"] == "call_centre"
    assert _descendants(resolved, spans) == {"idres.retrieval", "idres.scoring"}
    found, unknown = sorted(calls["GetCustomer"], key=lambda s: s.start_time or 0)
    assert found.attributes is not None and unknown.attributes is not None
    assert found.attributes["rpc.grpc.status_code"] == 0
    assert {"idres.database", "idres.profile"} <= _descendants(found, spans)
    assert unknown.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]


def test_the_duration_histogram_is_labelled_by_method_and_status(served: Served) -> None:
    served.stub.Resolve(pb.ResolveRequest(email="nobody@post.co.uk"), timeout=5)
    with pytest.raises(grpc.RpcError):
        served.stub.Resolve(pb.ResolveRequest(dob="31/12/1990"), timeout=5)
    served.calls(2)
    by_labels = {
        (p.attributes["rpc.method"], p.attributes["rpc.grpc.status_code"]): p
        for p in served.durations()
        if p.attributes is not None
    }
    ok = by_labels[("Resolve", 0)]
    invalid = by_labels[("Resolve", grpc.StatusCode.INVALID_ARGUMENT.value[0])]
    assert ok.count == 1 and invalid.count == 1 and ok.sum > 0
    assert ok.attributes is not None
    assert ok.attributes["rpc.system"] == "grpc" and ok.attributes["rpc.service"] == SERVICE


def test_the_guards_refusals_are_recorded(served: Served) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        observe(served.stub, "nul", given_name="Ann\x00")
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    (span,) = served.calls(1)["Observe"]
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]


def test_a_callers_trace_continues_in_the_server(served: Served) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    served.stub.Resolve(
        pb.ResolveRequest(email="a@post.co.uk"), metadata=[("traceparent", traceparent)], timeout=5
    )
    (span,) = served.calls(1)["Resolve"]
    assert span.context is not None and span.parent is not None
    assert f"{span.context.trace_id:032x}" == trace_id
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"


def test_prometheus_serves_the_call_durations(served: Served) -> None:
    served.stub.Resolve(pb.ResolveRequest(email="a@post.co.uk"), timeout=5)
    served.calls(1)
    url = f"http://127.0.0.1:{served.telemetry.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    counts = [line for line in text.splitlines() if line.startswith("rpc_server_call_duration")]
    assert any('rpc_method="Resolve"' in line and "_count" in line for line in counts)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log line of the process, at every level, as the JSON formatter writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_json_log_lines_carry_the_trace_and_no_personal_data(
    served: Served, json_logs: io.StringIO
) -> None:
    created = observe(served.stub, "p1", **PERSON)
    observe(served.stub, "p2", **{**PERSON, "email": "PHILIPPA.QUENNELL@post.co.uk"})
    served.stub.Resolve(pb.ResolveRequest(phone=PERSON["phone"], surname="Quennell"), timeout=5)
    served.stub.GetCustomer(pb.GetCustomerRequest(customer_id=created.customer_id), timeout=5)
    with pytest.raises(grpc.RpcError):
        observe(served.stub, "p1", **{**PERSON, "given_name": "Pippa"})  # ALREADY_EXISTS

    observes = served.calls(5)["Observe"]
    entries = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    calls = [e for e in entries if e["logger"] == "idres.resolver.transport.instrumentation"]
    assert len(calls) == 5
    traced = {f"{s.context.trace_id:032x}" for s in observes if s.context}
    assert {e["trace_id"] for e in calls if "/Observe " in e["message"]} == traced
    assert all(set(e) >= {"time", "level", "logger", "message", "span_id"} for e in calls)
    text = json_logs.getvalue().lower()
    for value in (*PERSON.values(), E164, "pippa"):
        assert value.lower() not in text


def test_log_text_is_scrubbed_of_emails_and_phones() -> None:
    assert scrub("no match for ann.lee+tag@post.co.uk or +44 7700 900461") == (
        "no match for [email] or [phone]"
    )
    kept = "at 2026-05-01 10:00:00 on 127.0.0.1:50051, pruned 1,204 events of r-1234567890"
    assert scrub(kept) == kept
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "for %s", ("07700 900461",), None)
    assert "07700" not in TextFormatter().format(record)
    assert json.loads(JsonFormatter().format(record))["message"] == "for [phone]"


def _service_name(monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    for variable in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in {"OTEL_TRACES_EXPORTER": "console", **env}.items():
        monkeypatch.setenv(variable, value)
    telemetry = build_telemetry(Settings())
    assert telemetry.tracer_provider is not None
    telemetry.shutdown()
    return telemetry.tracer_provider.resource.attributes


def test_the_standard_variables_name_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _service_name(monkeypatch)["service.name"] == "idres"
    named = _service_name(monkeypatch, OTEL_SERVICE_NAME="idres-eu")
    assert named["service.name"] == "idres-eu"
    tagged = _service_name(monkeypatch, OTEL_RESOURCE_ATTRIBUTES="deployment.environment=prod")
    assert tagged["deployment.environment"] == "prod" and tagged["service.name"] == "idres"


def test_exporters_follow_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console")
    telemetry = build_telemetry(Settings())
    assert telemetry.tracer_provider is None and telemetry.meter_provider is not None
    telemetry.shutdown()
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")
    monkeypatch.delenv("OTEL_METRICS_EXPORTER")
    nothing = build_telemetry(Settings())
    assert nothing.tracer_provider is None and nothing.meter_provider is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValidationError) as err:
        build_telemetry(Settings())
    assert [v.field for v in err.value.violations] == ["OTEL_TRACES_EXPORTER"]


def test_log_format_and_metrics_port_are_checked() -> None:
    assert Settings.from_env({"IDRES_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ValidationError) as err:
        Settings.from_env({"IDRES_LOG_FORMAT": "xml", "IDRES_METRICS_PORT": "70000"})
    assert {v.field for v in err.value.violations} == {"IDRES_LOG_FORMAT", "IDRES_METRICS_PORT"}

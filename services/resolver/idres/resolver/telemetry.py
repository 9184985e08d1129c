"""The one place the OpenTelemetry SDK is wired. Library code uses only the API, which costs
nothing until a provider is set here, and none is set when nothing would receive its data.

The standard variables decide: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` (the service
is `idres` unless they name it), `OTEL_TRACES_EXPORTER` and `OTEL_METRICS_EXPORTER` (`otlp`,
`console`, `none`, and `prometheus` for metrics; `otlp` when `OTEL_EXPORTER_OTLP_ENDPOINT` is
set, else `none`), and the OTLP exporter's own `OTEL_EXPORTER_OTLP_*`. `IDRES_METRICS_PORT`
serves a Prometheus scrape endpoint for teams without a collector.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_client import CollectorRegistry, start_http_server

from idres.resolver.domain.errors import FieldViolation, ValidationError
from idres.resolver.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_SERVICE = "idres"
PROMETHEUS_PORT = 9464  # the port OpenTelemetry's Prometheus exporter uses by default
_TRACES = "OTEL_TRACES_EXPORTER"
_METRICS = "OTEL_METRICS_EXPORTER"


@dataclass
class Telemetry:
    """The providers that have somewhere to send their data (None: the API's no-op stays)."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    metrics_server: WSGIServer | None = None

    @property
    def metrics_port(self) -> int:
        """The Prometheus endpoint's port; 0 when there is none."""
        return self.metrics_server.server_port if self.metrics_server else 0

    def shutdown(self) -> None:
        """Flushes what is buffered and closes the scrape endpoint."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()


def configure_telemetry(settings: Settings) -> Telemetry:
    """Builds the providers the environment asks for and makes them the process's own.
    Raises ValidationError naming a variable whose value cannot be honoured."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Telemetry(None, None)
    telemetry = build_telemetry(settings)
    if telemetry.tracer_provider is not None:
        trace.set_tracer_provider(telemetry.tracer_provider)
    if telemetry.meter_provider is not None:
        metrics.set_meter_provider(telemetry.meter_provider)
    return telemetry


def build_telemetry(
    settings: Settings,
    *,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> Telemetry:
    """The providers, not installed: a test passes its own processors and readers and hands
    the providers to a server, since a process's global providers can be set only once."""
    env = os.environ
    processors = [*_span_processors(settings, env), *span_processors]
    readers, registry = _metric_readers(settings, env)
    readers += metric_readers
    resource = _resource()
    tracer_provider = None
    if processors:
        tracer_provider = TracerProvider(resource=resource)
        for processor in processors:
            tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers) if readers else None
    server = None
    if registry is not None:
        port = settings.metrics_port or PROMETHEUS_PORT
        server, _ = start_http_server(port, settings.host, registry=registry)
        log.info("serving Prometheus metrics on %s:%d/metrics", settings.host, server.server_port)
    return Telemetry(tracer_provider, meter_provider, server)


def _resource() -> Resource:
    """The SDK's own reading of OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, named `idres`
    when neither names the service."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE}))
    return detected


def _span_processors(settings: Settings, env: Mapping[str, str]) -> list[SpanProcessor]:
    names = _exporters(env, _TRACES, "TRACES", {"otlp", "console", "none"})
    if settings.trace_console:
        names.add("console")
    processors: list[SpanProcessor] = []
    if "otlp" in names:
        processors.append(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in names:
        processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
    return processors


def _metric_readers(
    settings: Settings, env: Mapping[str, str]
) -> tuple[list[MetricReader], CollectorRegistry | None]:
    names = _exporters(env, _METRICS, "METRICS", {"otlp", "console", "prometheus", "none"})
    if settings.metrics_port:
        names.add("prometheus")
    readers: list[MetricReader] = []
    if "otlp" in names:
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if "console" in names:
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    registry = None
    if "prometheus" in names:
        # A registry of its own: the endpoint serves this provider's metrics and nothing else.
        registry = CollectorRegistry()
        readers.append(PrometheusMetricReader(registry=registry))
    return readers, registry


def _exporters(env: Mapping[str, str], variable: str, signal: str, known: set[str]) -> set[str]:
    """The exporters `variable` names; by default OTLP when an endpoint is configured."""
    raw = env.get(variable, "").strip().lower()
    if raw:
        names = {name.strip() for name in raw.split(",") if name.strip()}
        unknown = sorted(names - known)
        if unknown:
            listed = ", ".join(sorted(known))
            raise ValidationError(
                [FieldViolation(variable, f"unknown exporter {unknown[0]!r}: {listed}")]
            )
    else:
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
            f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"
        )
        names = {"otlp"} if endpoint else set()
    if "otlp" in names:
        _check_protocol(env, signal)
    return names - {"none"}


def _check_protocol(env: Mapping[str, str], signal: str) -> None:
    for variable in (f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = env.get(variable, "").strip().lower()
        if protocol and protocol != "grpc":
            raise ValidationError(
                [FieldViolation(variable, f"{protocol!r}: idres exports OTLP over grpc only")]
            )
        if protocol:
            return

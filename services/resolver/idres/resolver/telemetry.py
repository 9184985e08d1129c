"""The one place the OpenTelemetry SDK is wired. Library code uses only the API, which costs
nothing until a provider is set here."""

from __future__ import annotations

import importlib
import logging
import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)

from idres.resolver.settings import Settings

log = logging.getLogger(__name__)


def configure_telemetry(settings: Settings) -> bool:
    """Installs a tracer provider when a collector or console tracing is configured."""
    exporter = _exporter(settings)
    if exporter is None:
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": "idres"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return True


def _exporter(settings: Settings) -> SpanExporter | None:
    if settings.trace_console:
        return ConsoleSpanExporter()
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    try:
        module = importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp is missing")
        return None
    otlp: SpanExporter = module.OTLPSpanExporter()
    return otlp

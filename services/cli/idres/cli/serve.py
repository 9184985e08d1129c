"""`idres serve`: the gRPC server, until Ctrl-C or SIGTERM; one process per core by default."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from idres.cli.common import fail, load_settings
from idres.cli.signals import StopSignal
from idres.cli.supervisor import (
    PortTakenError,
    Supervisor,
    available_cores,
    claimed_port,
    follow_parent,
    report_ready,
)
from idres.resolver.adapters.database import resolve_url
from idres.resolver.domain.errors import ValidationError
from idres.resolver.logs import configure_logging
from idres.resolver.settings import Settings
from idres.resolver.telemetry import PROMETHEUS_PORT, Telemetry, configure_telemetry
from idres.resolver.transport.server import create_server


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the gRPC API",
        description="Serve idres.v1.IdentityService with health checking and reflection.",
    )
    parser.add_argument("--host", help="bind address (IDRES_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (IDRES_PORT, default 50051)")
    parser.add_argument(
        "--processes",
        type=int,
        help="server processes sharing the port (IDRES_PROCESSES; default one per available core)",
    )
    parser.add_argument("--child-of", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    given = (("host", args.host), ("port", args.port), ("processes", args.processes))
    settings = load_settings(**{k: v for k, v in given if v is not None})
    configure_logging(settings.log_format)
    if args.child_of is not None:
        follow_parent(args.child_of)
        return _serve(settings, args.ready_fd)
    count = settings.processes or available_cores()
    try:
        with claimed_port(settings.host, settings.port) as port:
            settings = replace(settings, port=port)
            return _serve(settings) if count == 1 else _supervise(settings, count)
    except PortTakenError as exc:
        return fail(str(exc))


def _serve(settings: Settings, ready_fd: int | None = None) -> int:
    """Serves in this process; a child (`ready_fd` given) tells its parent instead of the user."""
    telemetry = _telemetry(settings)
    server = create_server(settings)
    stopping = StopSignal().install()
    server.start()
    customers, values = server.resolver.index.counts()
    if ready_fd is None:
        print(_banner(settings, 1, customers, values), flush=True)
    else:
        report_ready(ready_fd, customers, values)
    stopping.wait()
    stopping.ignore_more()  # the drain is bounded by the grace; a repeated signal changes nothing
    if ready_fd is None:
        print("shutting down gracefully", flush=True)
    server.stop()
    telemetry.shutdown()
    return 0


def _supervise(settings: Settings, count: int) -> int:
    """`count` children on the claimed port, on one database (the embedded one stays ours)."""
    env = {
        **os.environ,
        "IDRES_HOST": settings.host,
        "IDRES_PORT": str(settings.port),
        "IDRES_DATABASE_URL": resolve_url(settings.database_url, settings.data_dir),
    }
    supervisor = Supervisor(count, env, _metrics_base(settings))
    supervisor.stopping.install()
    ready = supervisor.start()
    if ready is None:
        signalled = supervisor.stopping.is_set()
        supervisor.stop(0 if not signalled else settings.shutdown_grace_s)
        return 0 if signalled else fail("a server process did not start; see its errors above")
    print(_banner(settings, count, ready.customers, ready.values), flush=True)
    if supervisor.watch() != 0:
        return fail("a server process ended unexpectedly; stopped the others")
    supervisor.stopping.ignore_more()
    print(f"shutting down gracefully ({count} processes)", flush=True)
    return 0 if supervisor.stop(settings.shutdown_grace_s) else 1


def _metrics_base(settings: Settings) -> int:
    """The first child's Prometheus port (the next child's is one more), 0 for none."""
    if settings.metrics_port:
        return settings.metrics_port
    exporters = os.environ.get("OTEL_METRICS_EXPORTER", "").lower()
    return PROMETHEUS_PORT if "prometheus" in exporters else 0


def _banner(settings: Settings, count: int, customers: int, values: int) -> str:
    processes = "1 process" if count == 1 else f"{count} processes"
    security = "TLS" if settings.tls_cert_file else "plaintext (set IDRES_TLS_CERT_FILE for TLS)"
    if settings.tls_client_ca_file:
        security += " with client certificates"
    auth = "bearer tokens" if settings.auth_tokens_file else "no authentication"
    return (
        f"idres serving on {settings.address}, {processes} ({customers:,} customers,"
        f" {values:,} identifier values); {security}, {auth}; Ctrl-C stops"
    )


def _telemetry(settings: Settings) -> Telemetry:
    """Spans and metrics as the OTEL_ variables and IDRES_METRICS_PORT say; a mistake in them
    stops the command before it serves."""
    try:
        return configure_telemetry(settings)
    except ValidationError as exc:
        for v in exc.violations:
            print(f"idres: invalid {v.field}: {v.description}", file=sys.stderr)
        raise SystemExit(2) from exc
    except OSError as exc:
        raise SystemExit(fail(f"cannot serve metrics on {settings.host}: {exc}")) from exc

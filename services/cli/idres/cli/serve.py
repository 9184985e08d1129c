"""`idres serve`: the gRPC server, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from idres.cli.common import fail, load_settings
from idres.resolver.domain.errors import ValidationError
from idres.resolver.logs import configure_logging
from idres.resolver.settings import Settings
from idres.resolver.telemetry import Telemetry, configure_telemetry
from idres.resolver.transport.server import create_server


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the gRPC API",
        description="Serve idres.v1.IdentityService with health checking and reflection.",
    )
    parser.add_argument("--host", help="bind address (IDRES_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (IDRES_PORT, default 50051)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = load_settings(**overrides)
    configure_logging(settings.log_format)
    telemetry = _telemetry(settings)
    server = create_server(settings)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    customers, values = server.resolver.index.counts()
    print(
        f"idres serving on {server.address} ({customers:,} customers, {values:,} identifier"
        " values); Ctrl-C stops",
        flush=True,
    )
    stopping.wait()
    print("shutting down gracefully", flush=True)
    server.stop()
    telemetry.shutdown()
    return 0


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

"""TLS for the gRPC port, from PEM files that are re-read when they change.

gRPC asks for the certificate configuration on every new connection; answering from the files'
modification times costs a few `stat` calls, and a renewed certificate (cert-manager rewrites
the Secret's files) is served from the next connection on, with no restart. A pair that does
not load (a key written before its certificate, say) keeps the previous pair in service.
"""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path

import grpc

from idres.resolver.domain.errors import FieldViolation, ValidationError
from idres.resolver.settings import PREFIX, Settings

log = logging.getLogger(__name__)


class CertificateFiles:
    """The server's certificate, key and (optionally) client CAs, watched for changes."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self.cert, self.key, self.client_ca = cert, key, client_ca
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self.initial = self._configuration()

    @property
    def paths(self) -> tuple[Path, ...]:
        return (
            (self.cert, self.key)
            if self.client_ca is None
            else (self.cert, self.key, self.client_ca)
        )

    def _stat(self) -> tuple[tuple[int, int], ...]:
        stats = (path.stat() for path in self.paths)
        return tuple((s.st_mtime_ns, s.st_size) for s in stats)

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        """Reads the files; raises ValueError when they are not a matching PEM pair."""
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self.cert, self.key)
        except ssl.SSLError as exc:
            raise ValueError(
                f"{self.cert} and {self.key} are not a PEM certificate and its key: {exc}"
            ) from None
        roots = self.client_ca.read_bytes() if self.client_ca is not None else None
        return grpc.ssl_server_certificate_configuration(
            [(self.key.read_bytes(), self.cert.read_bytes())], root_certificates=roots
        )

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """The new configuration when a file changed since the last read; None keeps the old."""
        with self._lock:
            try:
                stamp = self._stat()
                if stamp == self._stamp:
                    return None
                configuration = self._configuration()
            except (OSError, ValueError) as exc:
                log.warning("keeping the current TLS certificate: %s", exc)
                return None
            self._stamp = stamp
            log.info("serving the renewed TLS certificate from %s", self.cert)
            return configuration


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials when a certificate is configured; None means plaintext."""
    if not settings.tls_cert_file:
        return None
    client_ca = Path(settings.tls_client_ca_file) if settings.tls_client_ca_file else None
    try:
        files = CertificateFiles(
            Path(settings.tls_cert_file), Path(settings.tls_key_file), client_ca
        )
    except (OSError, ValueError) as exc:
        raise ValidationError([FieldViolation(PREFIX + "TLS_CERT_FILE", str(exc))]) from None
    return grpc.dynamic_ssl_server_credentials(
        files.initial, files.fetch, require_client_authentication=client_ca is not None
    )

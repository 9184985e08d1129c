"""TLS on the gRPC port: certificates from files, renewed without a restart, client
certificates when asked for, and the CLI connecting with TLS and a token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
import trustme

from idres.cli.connection import open_channel
from idres.resolver.domain.errors import ValidationError
from idres.resolver.settings import Settings
from idres.resolver.transport.server import IdresServer, create_server
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

LOOKUP = pb.ResolveRequest(email="jo.lee@gmail.com")


def issue(ca: trustme.CA, folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for the loopback names and its key, written under `folder`."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = folder / f"{name}.pem", folder / f"{name}.key"
    cert.private_key_pem.write_to_path(str(key_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return cert_file, key_file


def trust(ca: trustme.CA, path: Path) -> Path:
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(settings: Settings, tmp_path: Path, ca: trustme.CA) -> Iterator[IdresServer]:
    cert, key = issue(ca, tmp_path, "server")
    server = create_server(replace(settings, tls_cert_file=str(cert), tls_key_file=str(key)))
    server.start()
    yield server
    server.stop(grace=0)


def resolves(address: str, settings: Settings) -> bool:
    """Whether a new connection with `settings`' TLS gets an answer."""
    with open_channel(address, settings) as channel:
        try:
            rpc.IdentityServiceStub(channel).Resolve(LOOKUP, timeout=5)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE
            return False
    return True


def test_tls_serves_no_plaintext_and_renews_certificates_from_the_files(
    tls_server: IdresServer, tmp_path: Path, ca: trustme.CA
) -> None:
    assert tls_server.tls
    trusting = Settings(tls_ca_file=str(trust(ca, tmp_path / "ca.pem")))
    assert resolves(tls_server.address, trusting)
    assert not resolves(tls_server.address, Settings())  # plaintext is refused

    renewed = trustme.CA()
    cert, key = issue(renewed, tmp_path, "renewed")
    Path(tls_server.settings.tls_key_file).write_bytes(key.read_bytes())
    Path(tls_server.settings.tls_cert_file).write_bytes(cert.read_bytes())
    trusting_renewed = Settings(tls_ca_file=str(trust(renewed, tmp_path / "renewed-ca.pem")))
    assert resolves(tls_server.address, trusting_renewed)
    assert not resolves(tls_server.address, trusting)


def test_client_certificates_are_required_when_a_client_ca_is_set(
    settings: Settings, tmp_path: Path, ca: trustme.CA
) -> None:
    cert, key = issue(ca, tmp_path, "server")
    client_ca = trustme.CA()
    client_cert, client_key = issue(client_ca, tmp_path, "client")
    server = create_server(
        replace(
            settings,
            tls_cert_file=str(cert),
            tls_key_file=str(key),
            tls_client_ca_file=str(trust(client_ca, tmp_path / "client-ca.pem")),
        )
    )
    server.start()
    try:
        anonymous = Settings(tls_ca_file=str(trust(ca, tmp_path / "ca.pem")))
        assert not resolves(server.address, anonymous)
        known = replace(
            anonymous, tls_client_cert_file=str(client_cert), tls_client_key_file=str(client_key)
        )
        assert resolves(server.address, known)
    finally:
        server.stop(grace=0)


def test_a_missing_or_mismatched_certificate_is_a_clear_error(
    settings: Settings, tmp_path: Path, ca: trustme.CA
) -> None:
    cert, key = issue(ca, tmp_path, "server")
    _, other_key = issue(ca, tmp_path, "other")
    for cert_file, key_file, expected in (
        (tmp_path / "missing.pem", key, "missing.pem"),
        (cert, other_key, "not a PEM certificate and its key"),
    ):
        with pytest.raises(ValidationError, match=expected) as caught:
            create_server(
                replace(settings, tls_cert_file=str(cert_file), tls_key_file=str(key_file))
            )
        assert "IDRES_TLS_CERT_FILE" in str(caught.value)


def test_the_cli_connects_with_tls_and_a_token(
    settings: Settings, tmp_path: Path, ca: trustme.CA
) -> None:
    cert, key = issue(ca, tmp_path, "server")
    tokens = tmp_path / "tokens"
    tokens.write_text("cli-token acme resolve,observe\n")
    records = tmp_path / "people.csv"
    records.write_text("record_id,email,given_name\nc1,jo.lee@gmail.com,Jo\n")
    env = {**os.environ, "IDRES_DATABASE_URL": settings.database_url, "IDRES_TENANT": "acme"}
    loaded = subprocess.run(
        [sys.executable, "-m", "idres.cli", "ingest", str(records)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    server = create_server(
        replace(
            settings,
            tls_cert_file=str(cert),
            tls_key_file=str(key),
            auth_tokens_file=str(tokens),
        )
    )
    server.start()
    try:
        env |= {"IDRES_TLS_CA_FILE": str(trust(ca, tmp_path / "ca.pem"))}
        command = [sys.executable, "-m", "idres.cli", "resolve", "--target", server.address]
        command += ["--email", "jo.lee@gmail.com"]
        refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and "UNAUTHENTICATED" in refused.stdout + refused.stderr
        found = subprocess.run(
            command,
            env=env | {"IDRES_TOKEN": "cli-token"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert found.returncode == 0, found.stdout + found.stderr
        assert "decision     match" in found.stdout and "cus_" in found.stdout
    finally:
        server.stop(grace=0)

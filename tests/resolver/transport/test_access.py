"""The token file: its lines, its errors, and a scope for every method of the service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from idres.resolver.domain.errors import ValidationError
from idres.resolver.transport.access import (
    TokenFile,
    bearer,
    parse_tokens,
    scope_of,
    token_digest,
    unscoped_methods,
)


def test_every_method_of_the_service_names_its_scope() -> None:
    assert unscoped_methods() == []
    assert scope_of("/idres.v1.IdentityService/Observe") == "observe"
    assert scope_of("/idres.v1.IdentityService/Forget") == "admin"
    assert scope_of("/idres.v1.IdentityService/SomethingNew") == "admin"


def test_bad_lines_are_named_and_nothing_is_half_loaded() -> None:
    text = "\n".join(
        (
            "ok acme resolve",
            "two-fields acme",
            "bad-scope acme resolve,write",
            "bad-tenant Acme resolve",
            "hmac-sha256:abc acme resolve",
            "ok globex observe",
        )
    )
    with pytest.raises(ValidationError) as caught:
        parse_tokens(text, b"key", "tokens", hashed=True)
    found = {v.field: v.description for v in caught.value.violations}
    assert set(found) == {"tokens:2", "tokens:3", "tokens:4", "tokens:5", "tokens:6"}
    assert "write" in found["tokens:3"] and "twice" in found["tokens:6"]
    with pytest.raises(ValidationError, match="IDRES_AUTH_TOKEN_KEY"):
        parse_tokens("hmac-sha256:" + "0" * 64 + " acme resolve", b"k", "tokens", hashed=False)


def test_plain_and_hashed_tokens_grant_their_tenant_and_scopes(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    hashed = token_digest(b"secret", "t2")
    path.write_text(f"t1 acme resolve,observe  # the web channel\nhmac-sha256:{hashed} b admin\n")
    tokens = TokenFile(path, "secret")
    one, two = tokens.grant("t1"), tokens.grant("t2")
    assert one is not None and one.tenant == "acme" and one.scopes == {"resolve", "observe"}
    assert two is not None and two.tenant == "b" and two.scopes == {"admin"}
    assert tokens.grant(f"hmac-sha256:{hashed}") is None and tokens.tenants() == {"acme", "b"}
    assert bearer((("authorization", "Bearer t1"),)) == "t1"
    assert bearer((("authorization", "Basic dDE="),)) is None and bearer(None) is None


def test_the_token_verb_prints_a_line_the_file_accepts(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "idres.cli", "token", "--tenant", "acme", "--scopes", "resolve"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"IDRES_AUTH_TOKEN_KEY": "secret", "PATH": ""},
        check=True,
    )
    lines = dict(line.split(":", 1) for line in made.stdout.splitlines())
    token, held = lines["token"].strip(), lines["line"].strip()
    assert held.startswith("hmac-sha256:") and token not in held
    path = tmp_path / "tokens"
    path.write_text(held + "\n")
    grant = TokenFile(path, "secret").grant(token)
    assert grant is not None and grant.tenant == "acme" and grant.scopes == {"resolve"}

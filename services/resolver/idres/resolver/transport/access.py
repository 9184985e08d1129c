"""Who may call: bearer tokens from a file, each granting one tenant some scopes.

The file has one `TOKEN TENANT SCOPE[,SCOPE...]` a line (`#` starts a comment). A token may be
written as `hmac-sha256:HEX`, its HMAC-SHA256 under `IDRES_AUTH_TOKEN_KEY`, so the file (a
Kubernetes Secret, say) need not hold the token itself. Tokens are only ever compared and kept
as such digests. The file is re-read when it changes, so tokens rotate without a restart; a
file that no longer parses keeps the previous tokens in force and is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from idres.resolver.domain.errors import FieldViolation, ValidationError
from idres.resolver.domain.tenants import check_tenant
from idres.v1 import identity_pb2

log = logging.getLogger(__name__)
HASHED = "hmac-sha256:"
SCOPES = ("resolve", "observe", "admin")
_SERVICE = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"]
# Every method needs one scope; a method missing here needs `admin`, so a new RPC starts closed.
METHOD_SCOPES: Mapping[str, str] = {
    "Observe": "observe",
    "ObserveBatch": "observe",
    "Resolve": "resolve",
    "GetCustomer": "resolve",
    "Explain": "resolve",
    "WatchChanges": "resolve",
    "MergeCustomers": "admin",
    "SplitCustomer": "admin",
    "ListReviews": "admin",
    "DecideReview": "admin",
    "Forget": "admin",
    "LiftSuppression": "admin",
}
_RECHECK_S = 1.0


def scope_of(method: str) -> str:
    """The scope a call to `method` (its full `/package.Service/Method` path) needs."""
    return METHOD_SCOPES.get(method.rpartition("/")[2], "admin")


@dataclass(frozen=True, slots=True)
class Grant:
    tenant: str
    scopes: frozenset[str]
    line: int
    """The token's line in the file: how logs name a token without showing it."""


def token_digest(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def parse_tokens(text: str, key: bytes, source: str, *, hashed: bool = True) -> dict[str, Grant]:
    """Grants by token digest under `key`; `hashed`: whether lines may hold digests (they
    can only when `key` is the configured one). ValidationError names every bad line."""
    grants: dict[str, Grant] = {}
    problems: list[FieldViolation] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            digest, grant = _entry(line, number, key, hashed)
        except ValueError as exc:
            problems.append(FieldViolation(f"{source}:{number}", str(exc)))
            continue
        if digest in grants:
            problems.append(FieldViolation(f"{source}:{number}", "the same token is listed twice"))
        grants[digest] = grant
    if problems:
        raise ValidationError(problems)
    return grants


def _entry(line: str, number: int, key: bytes, hashed: bool) -> tuple[str, Grant]:
    parts = line.split()
    if len(parts) != 3:
        raise ValueError("expected TOKEN TENANT SCOPE[,SCOPE...]")
    token, tenant, listed = parts
    scopes = frozenset(s for s in listed.split(",") if s)
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"unknown scope {', '.join(unknown) or listed!r}: use {', '.join(SCOPES)}")
    grant = Grant(check_tenant(tenant), scopes, number)
    if not token.startswith(HASHED):
        return token_digest(key, token), grant
    if not hashed:
        raise ValueError("a hashed token needs IDRES_AUTH_TOKEN_KEY")
    digest = token.removeprefix(HASHED).lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("a hashed token is hmac-sha256: and 64 hex digits")
    return digest, grant


class TokenFile:
    """The grants of `IDRES_AUTH_TOKENS_FILE`, re-read (at most once a second) when it changes."""

    def __init__(self, path: Path, key: str = "") -> None:
        self.path = path
        # Without a configured key, tokens are still held only as digests, under a key of
        # this process's own.
        self._key = key.encode() if key else secrets.token_bytes(32)
        self._hashed = bool(key)
        self._checked = time.monotonic()
        self._stamp = self._stat()
        self.grants = self._read()

    def _stat(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_mtime_ns, stat.st_size

    def _read(self) -> dict[str, Grant]:
        text = self.path.read_text(encoding="utf-8")
        return parse_tokens(text, self._key, self.path.name, hashed=self._hashed)

    def tenants(self) -> set[str]:
        return {grant.tenant for grant in self.grants.values()}

    def grant(self, token: str) -> Grant | None:
        self._refresh()
        return self.grants.get(token_digest(self._key, token))

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < _RECHECK_S:
            return
        self._checked = now
        try:
            stamp = self._stat()
            if stamp != self._stamp:
                self.grants, self._stamp = self._read(), stamp
                log.info("re-read %s: %d tokens", self.path, len(self.grants))
        except (OSError, UnicodeDecodeError, ValidationError) as exc:
            log.error("keeping the previous tokens: %s does not load: %s", self.path, exc)


def load_tokens(path: str, key: str) -> TokenFile | None:
    """The token file of the settings, or None when authentication is off."""
    if not path:
        return None
    try:
        return TokenFile(Path(path), key)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError([FieldViolation("IDRES_AUTH_TOKENS_FILE", str(exc))]) from None


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of an `authorization: Bearer TOKEN` header, if the call sent one."""
    for name, value in metadata or ():
        if name == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def unscoped_methods() -> list[str]:
    """Methods of the service that `METHOD_SCOPES` does not name (a test keeps this empty)."""
    return [m.name for m in _SERVICE.methods if m.name not in METHOD_SCOPES]

"""`idres token`: a new bearer token and the line that grants it, for IDRES_AUTH_TOKENS_FILE."""

from __future__ import annotations

import argparse
import secrets

from idres.cli.common import fail, load_settings
from idres.resolver.domain.tenants import check_tenant
from idres.resolver.transport.access import HASHED, SCOPES, token_digest


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "token",
        help="make a bearer token for a tenant",
        description="Prints a new random token and the line of IDRES_AUTH_TOKENS_FILE that "
        "grants it; with IDRES_AUTH_TOKEN_KEY set, the line holds the token's keyed hash, so "
        "the file never holds the token.",
    )
    parser.add_argument("--tenant", required=True, help="the tenant the token acts for")
    parser.add_argument("--scopes", required=True, help=f"comma-separated, of: {', '.join(SCOPES)}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scopes = [s.strip() for s in str(args.scopes).split(",") if s.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        return fail(f"unknown scope {', '.join(unknown) or '(none)'}: use {', '.join(SCOPES)}", 2)
    try:
        tenant = check_tenant(str(args.tenant))
    except ValueError as exc:
        return fail(str(exc), 2)
    token = secrets.token_urlsafe(32)
    key = load_settings().auth_token_key
    held = HASHED + token_digest(key.encode(), token) if key else token
    print(f"token: {token}")
    print(f"line:  {held} {tenant} {','.join(scopes)}")
    return 0

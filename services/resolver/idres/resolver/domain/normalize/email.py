"""Email addresses: case, internationalized domains and provider rules (aliases, typos, dots,
+tags)."""

from __future__ import annotations

import re

from idres.resolver.domain.errors import InvalidValue
from idres.resolver.domain.normalize.rules import EmailRules

MAX_LENGTH = 254
"""RFC 5321 limit on a forward path, the longest address a mail server accepts."""

_MAX_LOCAL = 64
# RFC 5322 dot-atom text; quoted local parts are legal but never seen from real customers.
_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})")
_WHITESPACE = re.compile(r"\s")


def _invalid(reason: str) -> InvalidValue:
    return InvalidValue(f"not an email address: {reason}")


def _split(text: str) -> tuple[str, str]:
    """Split at the single '@', rejecting the shapes that cannot be an address."""
    if len(text) > MAX_LENGTH:
        raise _invalid(f"longer than {MAX_LENGTH} characters")
    if _WHITESPACE.search(text):
        raise _invalid("contains whitespace")
    count = text.count("@")
    if count == 0:
        raise _invalid("missing '@'")
    if count > 1:
        raise _invalid("more than one '@'")
    local, _, domain = text.partition("@")
    return local, domain


def _check_local(local: str) -> None:
    if not local:
        raise _invalid("empty local part")
    if len(local) > _MAX_LOCAL:
        raise _invalid(f"local part longer than {_MAX_LOCAL} characters")
    if _LOCAL.fullmatch(local) is None:
        raise _invalid("local part has characters outside letters, digits and !#$%&'*+/=?^_`{|}~.-")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise _invalid("local part has a leading, trailing or doubled dot")


def _ascii_domain(domain: str) -> str:
    """Lower-case the domain and turn an internationalized one into its punycode (xn--) form."""
    domain = domain.lower().removesuffix(".")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise _invalid("domain is not a valid internationalized domain name") from None
    if "." not in domain:
        raise _invalid("domain has no dot")
    if len(domain) > 253 or _DOMAIN.fullmatch(domain) is None:
        raise _invalid("domain is not a valid host name")
    return domain


def _apply_provider(local: str, domain: str, rules: EmailRules) -> tuple[str, str]:
    """Rewrite to the mailbox the provider actually delivers to."""
    domain = rules.canonical_domain(domain)
    if domain in rules.plus_tags:
        local = local.partition("+")[0]
    if domain in rules.ignore_dots:
        local = local.replace(".", "")
    return local, domain


def normalize_email(text: str, rules: EmailRules) -> str:
    """Canonical address `local@domain`, lower-case, with the provider rules applied."""
    raw_local, raw_domain = _split(text)
    if not raw_local.isascii():
        # Checked before lower-casing, which maps some non-ASCII letters (the Kelvin sign) to ASCII.
        raise _invalid("local part has non-ASCII characters")
    _check_local(raw_local.lower())
    local, domain = _apply_provider(raw_local.lower(), _ascii_domain(raw_domain), rules)
    # Stripping a tag or dots can leave "" or "a." behind; re-check so the output re-normalizes.
    _check_local(local)
    address = f"{local}@{domain}"
    if len(address) > MAX_LENGTH:
        raise _invalid(f"longer than {MAX_LENGTH} characters")
    return address

"""Social handles: `@Name`, bare names and profile URLs to `platform:handle`."""

from __future__ import annotations

import re
from typing import NamedTuple

from idres.resolver.domain.errors import InvalidValue


class _Syntax(NamedTuple):
    pattern: re.Pattern[str]
    rule: str


def _syntax(chars: str, low: int, high: int, label: str) -> _Syntax:
    return _Syntax(re.compile(f"[{chars}]{{{low},{high}}}"), f"{low}-{high} of {label}")


# What each platform allows in a (lower-cased) user name.
_HANDLE_SYNTAX = {
    "twitter": _syntax("a-z0-9_", 1, 15, "a-z, 0-9, _"),
    "instagram": _syntax("a-z0-9._", 1, 30, "a-z, 0-9, '.', _"),
    "threads": _syntax("a-z0-9._", 1, 30, "a-z, 0-9, '.', _"),
    "tiktok": _syntax("a-z0-9._", 2, 24, "a-z, 0-9, '.', _"),
    "facebook": _syntax("a-z0-9.", 5, 50, "a-z, 0-9, '.'"),
    "linkedin": _syntax("a-z0-9-", 3, 100, "a-z, 0-9, -"),
    "snapchat": _syntax("a-z0-9._-", 3, 15, "a-z, 0-9, '.', _, -"),
    "youtube": _syntax("a-z0-9._-", 3, 30, "a-z, 0-9, '.', _, -"),
}

_PLATFORM_ALIASES = {
    **{name: name for name in _HANDLE_SYNTAX},
    "x": "twitter",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "ig": "instagram",
    "insta": "instagram",
    "instagram.com": "instagram",
    "fb": "facebook",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "tt": "tiktok",
    "tiktok.com": "tiktok",
    "li": "linkedin",
    "linkedin.com": "linkedin",
    "snap": "snapchat",
    "snapchat.com": "snapchat",
    "threads.net": "threads",
    "threads.com": "threads",
    "yt": "youtube",
    "youtube.com": "youtube",
}

# Registrable domain (last two labels) of a profile URL's host -> platform.
_HOSTS = {
    "twitter.com": "twitter",
    "x.com": "twitter",
    "instagram.com": "instagram",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "tiktok.com": "tiktok",
    "linkedin.com": "linkedin",
    "snapchat.com": "snapchat",
    "threads.net": "threads",
    "threads.com": "threads",
    "youtube.com": "youtube",
}

# Path prefixes that come before the user name on some platforms (linkedin.com/in/name).
_PATH_PREFIXES = {
    "linkedin": frozenset({"in"}),
    "snapchat": frozenset({"add"}),
    "youtube": frozenset({"c", "user"}),
}

# First path segments that are site pages rather than user names.
_NOT_PROFILES = frozenset(
    {"home", "i", "intent", "search", "hashtag", "share", "sharer", "sharer.php", "explore"}
    | {"p", "reel", "reels", "stories", "accounts", "groups", "pages", "events", "watch"}
    | {"company", "school", "jobs", "feed", "discover", "tag", "music", "video", "channel"}
)

_URL = re.compile(
    r"(?:https?://)?(?P<host>[a-z0-9.-]+)(?::[0-9]{1,5})?(?P<path>/[^?#]*)?"
    r"(?:\?(?P<query>[^#]*))?(?:#.*)?"
)
_CANONICAL = re.compile(r"(?P<platform>[a-z][a-z.]*):(?P<handle>[^/]*)")
_FACEBOOK_ID = re.compile(r"(?:^|&)id=([0-9]+)(?:&|$)")
_ECHO_LIMIT = 40


def _quoted(text: str) -> str:
    """Echo caller text in a message without letting a huge value swamp it."""
    return f"'{text}'" if len(text) <= _ECHO_LIMIT else f"'{text[:_ECHO_LIMIT]}...'"


def _platform(name: str) -> str:
    """Resolve a platform name or alias (X, ig, tiktok.com) to its canonical name."""
    platform = _PLATFORM_ALIASES.get(name.strip().lower())
    if platform is None:
        raise InvalidValue(f"unknown social platform {_quoted(name.strip())}")
    return platform


def _from_path(platform: str, path: str, query: str) -> str:
    """The user name inside a profile URL path, such as /in/name or /@name/."""
    segments = [segment for segment in path.split("/") if segment]
    if segments and segments[0] in _PATH_PREFIXES.get(platform, ()):
        segments = segments[1:]
    if platform == "facebook" and segments[:1] == ["profile.php"]:
        found = _FACEBOOK_ID.search(query)
        segments = [found.group(1)] if found else []
    if not segments:
        raise InvalidValue(f"{platform} profile URL has no handle")
    if segments[0] in _NOT_PROFILES:
        raise InvalidValue(f"{platform} URL is not a profile page")
    return segments[0]


def _from_url(text: str) -> tuple[str, str]:
    """(platform, handle) from a profile URL; the host decides the platform."""
    match = _URL.fullmatch(text)
    if match is None:
        raise InvalidValue("not a social handle or profile URL")
    host = ".".join(match["host"].rsplit(".", 2)[-2:])
    platform = _HOSTS.get(host)
    if platform is None:
        raise InvalidValue(f"profile URL host {_quoted(match['host'])} is not a supported platform")
    return platform, _from_path(platform, match["path"] or "", match["query"] or "")


def _split(text: str) -> tuple[str | None, str, str]:
    """(platform found in the value, handle, where it was found) for the three accepted shapes."""
    if "/" in text:
        return *_from_url(text), "URL"
    canonical = _CANONICAL.fullmatch(text)
    if canonical is not None:
        return _platform(canonical["platform"]), canonical["handle"], "value"
    return None, text, "value"


def normalize_handle(text: str, platform: str | None) -> str:
    """Canonical `platform:handle`, lower-case and without '@'.

    An empty `platform` counts as absent, as proto3 sends unset strings as "".
    """
    if not text.isascii():
        raise InvalidValue("social handle has non-ASCII characters")
    name = (platform or "").strip()
    given = _platform(name) if name else None
    found, handle, source = _split(text.lower())
    if found and given and found != given:
        raise InvalidValue(f"platform {_quoted(name)} does not match {source} of {found}")
    resolved = found or given
    if resolved is None:
        raise InvalidValue("handle needs a platform")
    handle = handle.removeprefix("@")
    syntax = _HANDLE_SYNTAX[resolved]
    if syntax.pattern.fullmatch(handle) is None:
        raise InvalidValue(f"not a valid {resolved} handle: expected {syntax.rule}")
    return f"{resolved}:{handle}"

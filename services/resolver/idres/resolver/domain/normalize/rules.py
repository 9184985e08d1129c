"""Declarative settings that tune normalization; frozen so one instance is shared by all calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from types import MappingProxyType

import phonenumbers

PROVIDER_ALIASES: Mapping[str, str] = MappingProxyType({"googlemail.com": "gmail.com"})
"""Domains a provider delivers to another of its domains' mailboxes."""

DOMAIN_TYPOS: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            ("gmial.com", "gmai.com", "gamil.com", "gnail.com", "gmal.com", "gmaill.com"),
            "gmail.com",
        ),
        **dict.fromkeys(
            ("gmail.co", "gmail.con", "gmail.cm", "gmail.om", "gmail.cmo"), "gmail.com"
        ),
        **dict.fromkeys(
            ("hotmial.com", "hotmal.com", "hotmai.com", "hotmil.com", "hotamil.com", "hotmail.con"),
            "hotmail.com",
        ),
        **dict.fromkeys(("yaho.com", "yahooo.com", "yhoo.com", "yahoo.con"), "yahoo.com"),
        **dict.fromkeys(("outlok.com", "outloo.com", "outlook.con"), "outlook.com"),
        **dict.fromkeys(
            ("iclod.com", "icoud.com", "iclould.com", "icloud.co", "icloud.con"), "icloud.com"
        ),
    }
)
"""Misspelt domains of the large providers, mapped to the domain meant. Nobody receives mail at
them, so the correction cannot join two real mailboxes. Truncations that could mean two
domains (hotmail.co: .com or .co.uk? yahoo.co, live.co) are left alone on purpose."""


def _provider_aliases() -> Mapping[str, str]:
    return PROVIDER_ALIASES


def _domain_typos() -> Mapping[str, str]:
    return DOMAIN_TYPOS


def _no_channels() -> Mapping[str, str]:
    return MappingProxyType({})


def check_region(code: str, what: str = "region") -> str:
    """`code` itself when phone metadata knows the region; a ValueError naming `what` if not."""
    if code in phonenumbers.SUPPORTED_REGIONS:
        return code
    hint = " (the United Kingdom is 'GB')" if code.strip().upper() == "UK" else ""
    raise ValueError(f"unknown {what} {code!r}: use an upper-case ISO 3166 code such as 'GB'{hint}")


@dataclass(frozen=True, slots=True)
class EmailRules:
    """Provider rules that make two spellings of one mailbox compare equal.

    Domains are written lower-case, in their ASCII (punycode) form.
    """

    domain_aliases: Mapping[str, str] = field(default_factory=_provider_aliases)
    """Domains that deliver to another domain's mailboxes, mapped to that canonical domain."""

    domain_typos: Mapping[str, str] = field(default_factory=_domain_typos)
    """Misspelt domains mapped to the domain meant (`DOMAIN_TYPOS` unless replaced; `{}` keeps
    every domain as written)."""

    ignore_dots: frozenset[str] = frozenset({"gmail.com"})
    """Domains whose provider ignores dots in the local part, so dots are removed."""

    plus_tags: frozenset[str] = frozenset(
        {
            "gmail.com",
            "outlook.com",
            "hotmail.com",
            "live.com",
            "icloud.com",
            "fastmail.com",
            "protonmail.com",
            "proton.me",
        }
    )
    """Domains whose provider delivers `local+tag` to `local`, so the `+tag` is removed."""

    def __post_init__(self) -> None:
        # A chained rewrite would need a second pass to settle, which breaks idempotence.
        for table, rewrites in (
            ("domain_aliases", self.domain_aliases),
            ("domain_typos", self.domain_typos),
        ):
            for source, target in rewrites.items():
                if self.canonical_domain(target) != target:
                    raise ValueError(
                        f"{table} must map to canonical domains: {source!r} -> {target!r}, "
                        f"but {target!r} is itself an alias or typo"
                    )
        for source in self.domain_aliases.keys() & self.domain_typos.keys():
            if self.domain_aliases[source] != self.domain_typos[source]:
                raise ValueError(f"{source!r} is both an alias and a typo, of different domains")

    def canonical_domain(self, domain: str) -> str:
        """The domain mail to `domain` really reaches, or was meant for."""
        return self.domain_aliases.get(domain) or self.domain_typos.get(domain, domain)


@dataclass(frozen=True, slots=True)
class NormalizationRules:
    """Everything a deployment may tune about turning raw identifiers into canonical values."""

    default_region: InitVar[str | None] = None
    """The one-region spelling of `phone_regions`, kept for older callers: given alone it means
    `phone_regions=(default_region,)`; given with it, it must be its first entry. Not stored:
    read `phone_regions[0]`."""

    phone_regions: tuple[str, ...] = ()
    """Regions (upper-case ISO 3166 codes) a number written without a country code may belong
    to, in order of preference. Left empty it is `(default_region,)`, or `("GB",)`."""

    channel_regions: Mapping[str, str] = field(default_factory=_no_channels)
    """The region each channel's records point to when their country and postcode do not say
    (see `region_of`). Channel names are matched lower-case."""

    email: EmailRules = field(default_factory=EmailRules)
    """Email provider rules (aliases, typos, ignored dots, plus tags)."""

    loyalty_check_digit: bool = True
    """Whether the last digit of a loyalty card number must be a valid Luhn check digit."""

    extra_placeholders: frozenset[str] = frozenset()
    """Further values that must never link, such as a shop's own phone number. An entry that
    normalizes matches every spelling of its canonical value; one that does not matches the
    lower-cased raw input. Write phone entries with their country code: a national entry is
    read in the first phone region it is valid in."""

    def __post_init__(self, default_region: str | None) -> None:
        object.__setattr__(
            self, "phone_regions", _phone_regions(self.phone_regions, default_region)
        )
        object.__setattr__(self, "channel_regions", _channel_regions(self.channel_regions))


def _phone_regions(given: tuple[str, ...], default_region: str | None) -> tuple[str, ...]:
    if isinstance(given, str):
        raise TypeError(f"phone_regions is a tuple of codes such as ('GB', 'US'), not {given!r}")
    regions = tuple(given) or (default_region or "GB",)
    what = "phone region" if given else "default_region"
    for code in regions:
        check_region(code, what)
    if len(set(regions)) != len(regions):
        raise ValueError(f"phone_regions lists a region twice: {regions}")
    if default_region and default_region != regions[0]:
        raise ValueError(
            f"default_region {default_region!r} must be the first of phone_regions {regions}: "
            "give phone_regions alone"
        )
    return regions


def _channel_regions(given: Mapping[str, str]) -> Mapping[str, str]:
    channels = {name.strip().lower(): region for name, region in given.items()}
    if len(channels) != len(given):
        raise ValueError("channel_regions names a channel twice (names are matched lower-case)")
    for name, region in channels.items():
        check_region(region, f"channel {name!r} region")
    return MappingProxyType(channels)


DEFAULT_RULES = NormalizationRules()
"""The rules used when a caller passes none: phone numbers read in GB only."""

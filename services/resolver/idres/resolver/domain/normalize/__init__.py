"""Identifier normalization: raw values from channel systems to canonical, comparable values.

Pure domain code: no I/O, safe to call on every request.
"""

from idres.resolver.domain.normalize.dispatch import Normalized, normalize
from idres.resolver.domain.normalize.postcode import normalize_postcode
from idres.resolver.domain.normalize.region import country_region, region_of
from idres.resolver.domain.normalize.rules import (
    DEFAULT_RULES,
    DOMAIN_TYPOS,
    PROVIDER_ALIASES,
    EmailRules,
    NormalizationRules,
    check_region,
)

__all__ = [
    "DEFAULT_RULES",
    "DOMAIN_TYPOS",
    "PROVIDER_ALIASES",
    "EmailRules",
    "NormalizationRules",
    "Normalized",
    "check_region",
    "country_region",
    "normalize",
    "normalize_postcode",
    "region_of",
]

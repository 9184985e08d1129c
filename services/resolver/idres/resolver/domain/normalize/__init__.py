"""Identifier normalization: raw values from channel systems to canonical, comparable values.

Pure domain code: no I/O, safe to call on every request.
"""

from idres.resolver.domain.normalize.dispatch import Normalized, normalize
from idres.resolver.domain.normalize.rules import DEFAULT_RULES, EmailRules, NormalizationRules

__all__ = ["DEFAULT_RULES", "EmailRules", "NormalizationRules", "Normalized", "normalize"]

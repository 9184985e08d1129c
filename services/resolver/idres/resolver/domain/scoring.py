"""The Fellegi-Sunter match model, evaluated natively with the numbers Splink gives.

Splink trains the model and saves it as JSON; `MatchModel.from_splink` turns that JSON into
precomputed log2 Bayes factors and small predicates, one per comparison level, that decide a
level exactly as Splink's SQL does on DuckDB (first true level wins, the null level first).
`features` is the one place a record becomes model columns, for training and for serving.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from idres.resolver.domain.errors import InvalidValue
from idres.resolver.domain.levels import (
    Test,
    UnsupportedModel,
    any_null,
    conjunction,
    exact_column,
)
from idres.resolver.domain.names import fold, nickname_group
from idres.resolver.domain.normalize import DEFAULT_RULES, NormalizationRules
from idres.resolver.domain.normalize.loyalty import normalize_card
from idres.resolver.domain.records import (
    FIELD_OF_KIND,
    Attributes,
    Flagged,
    Query,
    Record,
    parse_query,
)

Features = Mapping[str, str | None]
IDENTIFIER_COLUMNS: tuple[str, ...] = ("email", "phone", "handle", "device_id", "loyalty_card")
ADDRESS_COLUMNS: tuple[str, ...] = ("street_number", "street", "street_word", "locality", "state")
"""The address as the model compares it; `street_word` is the street's main word (see
`address_parts`)."""
FEATURE_COLUMNS: tuple[str, ...] = (
    *IDENTIFIER_COLUMNS,
    "given_name",
    "given_name_group",
    "given_name_initial",
    "surname",
    "dob",
    "postcode",
    "postcode_sector",
    "postcode_district",
    *ADDRESS_COLUMNS,
)
# Street types as one spelling each, so "Ainslie Avenue" is "ainslie ave" as written at a till;
# they are not a street's main word.
_STREET_TYPES: dict[str, str] = {
    **dict.fromkeys(("street", "st", "str"), "st"),
    **dict.fromkeys(("road", "rd"), "rd"),
    **dict.fromkeys(("avenue", "ave", "av"), "ave"),
    **dict.fromkeys(("place", "pl"), "pl"),
    **dict.fromkeys(("crescent", "cres", "cr"), "cres"),
    **dict.fromkeys(("court", "ct"), "ct"),
    **dict.fromkeys(("circuit", "cct"), "cct"),
    **dict.fromkeys(("close", "cl"), "cl"),
    **dict.fromkeys(("drive", "dr"), "dr"),
    **dict.fromkeys(("lane", "ln"), "ln"),
    **dict.fromkeys(("terrace", "tce", "ter"), "tce"),
    **dict.fromkeys(("parade", "pde"), "pde"),
    **dict.fromkeys(("boulevard", "blvd"), "blvd"),
    **dict.fromkeys(("highway", "hwy"), "hwy"),
    **dict.fromkeys(("grove", "gr"), "gr"),
    **dict.fromkeys(("square", "sq"), "sq"),
    **dict.fromkeys(("circle", "cir"), "cir"),
    **dict.fromkeys(("parkway", "pkwy"), "pkwy"),
    **dict.fromkeys(("gardens", "garden", "gdns"), "gdns"),
    **{word: word for word in ("way", "walk", "row", "mews", "esplanade", "retreat", "rise")},
}
_NOT_MAIN = frozenset({*_STREET_TYPES, "the", "of", "and"})
_EQUALITY = re.compile(r'^\(?\s*l\."?([a-z_][a-z0-9_]*)"?\s*=\s*r\."?\1"?\s*\)?$', re.I)
_AND_SPLIT = re.compile(r"\s+and\s+", re.I)
_UK_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")


def features(
    values: Mapping[str, str] | Record | Query, rules: NormalizationRules = DEFAULT_RULES
) -> dict[str, str | None]:
    """The model's columns for one record; absent and placeholder values are None.

    Raises ValidationError for a mapping that does not parse.
    """
    if isinstance(values, Record):
        query = values.query
    elif isinstance(values, Query):
        query = values
    else:
        query = parse_query(values, rules)
    out: dict[str, str | None] = dict.fromkeys(FEATURE_COLUMNS)
    for observed in query.identifiers:
        column = FIELD_OF_KIND[observed.identifier.kind]
        if not observed.placeholder and out[column] is None:
            out[column] = observed.identifier.value
    if out["loyalty_card"] is None:
        out["loyalty_card"] = _mistyped_card(query.flagged)
    attributes = query.attributes
    out["given_name"] = given = _folded(attributes.given_name)
    out["given_name_group"] = nickname_group(given) if given else None
    out["given_name_initial"] = given[0] if given else None
    out["surname"] = _surname(attributes.surname)
    out["dob"] = attributes.dob.isoformat() if attributes.dob else None
    postcode, sector, district = postcode_parts(attributes.postcode)
    out["postcode"], out["postcode_sector"], out["postcode_district"] = (
        postcode,
        sector,
        district,
    )
    out.update(zip(ADDRESS_COLUMNS, address_parts(attributes), strict=True))
    return out


def _mistyped_card(flagged: Iterable[Flagged]) -> str | None:
    """The digits of a card that failed only its check digit. It never links on its own, but
    the model weighs it: the same slip twice, or one digit off the customer's card."""
    for field in flagged:
        if field.field == "loyalty_card":
            try:
                return normalize_card(field.raw, check_digit=False)
            except InvalidValue:
                return None
    return None


def _folded(name: str) -> str | None:
    return " ".join(fold(name).split()) or None


def _surname(name: str) -> str | None:
    """A single letter is an initial ("Bob S."): it would agree with every S surname."""
    folded = _folded(name)
    return folded if folded and len(folded) > 1 else None


def address_parts(
    attributes: Attributes,
) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(street_number, street, street_word, locality, state), folded as addresses are
    compared: "12A", "Ainslie Avenue", "Lyneham", "ACT" -> ("12a", "ainslie ave", "ainslie",
    "lyneham", "act").

    The street's type has one spelling (avenue, ave and av are "ave"). Its main word, the
    longest word that is neither a type nor a number, still agrees when the type or another
    word was changed or misspelt ("ainslie avenue" and "ainslie ave", "kingsford smith dr"
    and "kingsfrod smith drive").
    """
    words = _address_words(attributes.street)
    street = " ".join(_STREET_TYPES.get(word, word) for word in words) or None
    named = [word for word in words if not word.isdigit()]
    named = [word for word in named if word not in _NOT_MAIN] or named
    main = max(named, key=len) if named else None
    return (
        "".join(_address_words(attributes.street_number)) or None,
        street,
        main,
        " ".join(_address_words(attributes.locality)) or None,
        " ".join(_address_words(attributes.state)) or None,
    )


def _address_words(text: str) -> list[str]:
    """Case, accents and punctuation folded away; letters and digits kept, as words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(
        ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch)
    )
    return kept.split()


def postcode_parts(text: str) -> tuple[str | None, str | None, str | None]:
    """(postcode, sector, district): "sw1a1aa" -> ("SW1A 1AA", "SW1A 1", "SW1A").

    Text that is not a UK postcode is kept (upper case, single spaces) without a sector or
    district, so it can still match itself exactly.
    """
    cleaned = " ".join(text.upper().split())
    if not cleaned:
        return None, None, None
    found = _UK_POSTCODE.match(cleaned.replace(" ", ""))
    if found is None:
        return cleaned, None, None
    outward, inward = found.groups()
    return f"{outward} {inward}", f"{outward} {inward[0]}", outward


# ---- term frequencies ------------------------------------------------------------------


class TermFrequencies:
    """How often each value appears in a column of the stored records.

    Splink's term frequency is count(value) / count(non-null values of the column), and a
    value missing from the table has none (so no adjustment); this class gives the same.
    It is mutable so the online side can keep it current as records arrive.
    """

    __slots__ = ("_counts", "_seeded", "_seeded_totals", "_totals")

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, int]] = {}
        self._totals: dict[str, int] = {}
        # The training data's share of the counts, kept apart so that an erasure takes out
        # of it exactly what it takes out of the stored model (`domain.erasure.forget_terms`).
        self._seeded: dict[str, dict[str, int]] = {}
        self._seeded_totals: dict[str, int] = {}

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, Mapping[str, int]],
        totals: Mapping[str, int] | None = None,
    ) -> TermFrequencies:
        """Counts per column and value; a column's total defaults to the sum of its counts,
        which is the number of non-null values, Splink's denominator."""
        tf = cls()
        for column, by_value in counts.items():
            tf._counts[column] = dict(by_value)
            tf._totals[column] = sum(by_value.values()) if totals is None else totals[column]
        for column, total in (totals or {}).items():
            tf._counts.setdefault(column, {})
            tf._totals[column] = total
        tf._seeded = {column: dict(by_value) for column, by_value in counts.items()}
        tf._seeded_totals = dict(tf._totals)
        return tf

    @classmethod
    def from_rows(cls, rows: Iterable[Features], columns: Iterable[str]) -> TermFrequencies:
        tf = cls()
        wanted = tuple(columns)
        for column in wanted:
            tf._counts.setdefault(column, {})
            tf._totals.setdefault(column, 0)
        for row in rows:
            tf.add(row, wanted)
        return tf

    def add(self, row: Features, columns: Iterable[str]) -> None:
        """Count one more record's values."""
        for column in columns:
            value = row.get(column)
            if value is None:
                continue
            by_value = self._counts.setdefault(column, {})
            by_value[value] = by_value.get(value, 0) + 1
            self._totals[column] = self._totals.get(column, 0) + 1

    def forget(self, row: Features, columns: Iterable[str], identifying: frozenset[str]) -> None:
        """Takes an erased record's values out: its own count, and the training data's share
        by the rule the stored model's counts follow (`forget_terms`)."""
        wanted = [c for c in columns if row.get(c) is not None]
        seeded = {c: self._seeded.get(c, {}).get(row[c] or "", 0) for c in wanted}
        forget_terms(self._seeded, self._seeded_totals, row, wanted, identifying)
        for column in wanted:
            value = row[column] or ""
            by_value = self._counts.get(column, {})
            count = by_value.get(value)
            if count is None:
                continue
            left = max(0, count - seeded[column] - 1)
            left += self._seeded.get(column, {}).get(value, 0)
            if left:
                by_value[value] = left
            else:
                del by_value[value]
            self._totals[column] = max(0, self._totals.get(column, 0) - (count - left))

    def frequency(self, column: str, value: str | None) -> float | None:
        if value is None:
            return None
        count = self._counts.get(column, {}).get(value)
        if count is None:
            return None
        return count / self._totals[column]


def forget_terms(
    counts: MutableMapping[str, dict[str, int]],
    totals: MutableMapping[str, int],
    row: Mapping[str, str | None],
    columns: Iterable[str],
    identifying: frozenset[str],
) -> int:
    """Takes one erased record out of term-frequency counts kept for values seen at least
    twice: an identifier's value goes whole (it names one person), another value loses one
    occurrence and goes when fewer than two remain. Returns the values removed."""
    removed = 0
    for column in columns:
        value = row.get(column)
        by_value = counts.get(column)
        if value is None or by_value is None or value not in by_value:
            continue
        count = by_value[value]
        left = 0 if column in identifying or count - 1 < 2 else count - 1
        if left:
            by_value[value] = left
        else:
            del by_value[value]
            removed += 1
        totals[column] = max(0, totals.get(column, count) - (count - left))
    return removed


NO_FREQUENCIES = TermFrequencies()


def seeded_frequencies(facts: Mapping[str, Any]) -> TermFrequencies:
    """Term frequencies that start from the training data's (`idres train` stores them with
    the model), so that a store's first records are weighed as Splink weighed them in
    training: in an empty store, the first Smith would otherwise look like a rare name."""
    return TermFrequencies.from_counts(facts.get("tf_counts") or {}, facts.get("tf_totals") or {})


_NOT_OBSERVED = "level not observed in training dataset"
_CLAMP = 1e-300  # Splink floors m and u here before taking logs


@dataclass(frozen=True, slots=True)
class Contribution:
    """One comparison's part of a score: the "explain" of a match weight."""

    comparison: str  # the comparison's output column name
    level: str  # the level's label
    gamma: int  # Splink's comparison vector value: -1 null, 0 else, higher is closer
    log2_bayes_factor: float
    tf_adjustment: float  # log2, added for a term-frequency-adjusted level

    @property
    def match_weight(self) -> float:
        return self.log2_bayes_factor + self.tf_adjustment


@dataclass(frozen=True, slots=True)
class Score:
    match_weight: float  # log2 odds, prior included
    probability: float
    contributions: tuple[Contribution, ...]


@dataclass(frozen=True, slots=True)
class _Level:
    test: Test | None  # None for ELSE
    contribution: Contribution  # with no TF adjustment; shared by every score
    tf_column: str | None  # set only when Splink would adjust this level
    tf_weight: float
    tf_minimum_u: float
    log2_u_exact: float

    def tf_adjustment(self, left: Features, right: Features, tf: TermFrequencies) -> float:
        column = self.tf_column
        assert column is not None
        tf_l = tf.frequency(column, left.get(column))
        tf_r = tf.frequency(column, right.get(column))
        if tf_l is None and tf_r is None:
            return 0.0
        a = tf_l if tf_l is not None else tf_r
        b = tf_r if tf_r is not None else tf_l
        assert a is not None and b is not None
        # weight * (log2(u of the exact level) - log2(greatest(tf_l, tf_r, minimum u)))
        return self.tf_weight * (self.log2_u_exact - math.log2(max(a, b, self.tf_minimum_u)))


@dataclass(frozen=True, slots=True)
class _Comparison:
    name: str
    levels: tuple[_Level, ...]


class MatchModel:
    """A trained Fellegi-Sunter model, ready to score pairs of `features` rows."""

    __slots__ = ("_comparisons", "_prior_weight", "blocking", "tf_columns")

    def __init__(
        self,
        prior_weight: float,
        comparisons: tuple[_Comparison, ...],
        blocking: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        self._prior_weight = prior_weight
        self._comparisons = comparisons
        self.blocking = blocking
        """The model's prediction blocking rules that are equalities on columns, as tuples of
        columns: the online retrieval proposes the pairs they would."""
        self.tf_columns: tuple[str, ...] = tuple(
            dict.fromkeys(
                level.tf_column for c in comparisons for level in c.levels if level.tf_column
            )
        )

    @classmethod
    def from_splink(cls, model: Mapping[str, Any]) -> MatchModel:
        """Reads Splink's saved model JSON; raises UnsupportedModel for what it cannot mirror."""
        prior = float(model.get("probability_two_random_records_match", 0.0001))
        prior_weight = match_weight(prior)
        comparisons = tuple(_comparison(c) for c in model["comparisons"])
        rules = model.get("blocking_rules_to_generate_predictions") or ()
        blocking = tuple(cols for rule in rules if (cols := blocking_columns(rule)))
        return cls(prior_weight, comparisons, blocking)

    @property
    def prior_weight(self) -> float:
        return self._prior_weight

    def difference_weight(self, comparison: str) -> float | None:
        """The log2 Bayes factor of `comparison`'s last level (nothing agrees), or None
        when the model has no such comparison."""
        for c in self._comparisons:
            if c.name == comparison:
                return c.levels[-1].contribution.log2_bayes_factor
        return None

    def levels(self) -> dict[str, tuple[Contribution, ...]]:
        """Every comparison's levels in evaluation order (their weights without TF)."""
        return {c.name: tuple(lv.contribution for lv in c.levels) for c in self._comparisons}

    def score(self, left: Features, right: Features, tf: TermFrequencies = NO_FREQUENCIES) -> Score:
        # Summed in Splink's order (prior, then each comparison's weight and TF adjustment).
        total = self._prior_weight
        parts: list[Contribution] = []
        for comparison in self._comparisons:
            level = _first_true(comparison.levels, left, right)
            part = level.contribution
            total += part.log2_bayes_factor
            if level.tf_column is not None:
                adjustment = level.tf_adjustment(left, right, tf)
                if adjustment:
                    total += adjustment
                    part = Contribution(
                        part.comparison, part.level, part.gamma, part.log2_bayes_factor, adjustment
                    )
            parts.append(part)
        return Score(total, probability(total), tuple(parts))


def blocking_columns(rule: str | Mapping[str, Any]) -> tuple[str, ...]:
    """The columns of a rule that is a conjunction of equalities (`l.a = r.a AND ...`), or ()
    for any other rule, which the online retrieval leaves to the vector index."""
    text = str(rule.get("blocking_rule", "")) if isinstance(rule, Mapping) else str(rule)
    columns = []
    for term in _AND_SPLIT.split(text.strip()):
        found = _EQUALITY.match(term.strip())
        if found is None:
            return ()
        columns.append(found.group(1).lower())
    return tuple(columns)


def _first_true(levels: tuple[_Level, ...], left: Features, right: Features) -> _Level:
    for level in levels:
        if level.test is None or level.test(left, right):
            return level
    raise AssertionError("a comparison ends with an ELSE level")


def match_weight(probability: float) -> float:
    """The log2 odds of a probability: the inverse of `probability`."""
    return math.log2(probability / (1 - probability)) if probability != 1 else math.inf


def probability(match_weight: float) -> float:
    """Splink's match probability, including its branch for numerical stability."""
    if match_weight >= 0:
        return 1.0 / (1.0 + math.pow(2.0, -match_weight))
    odds = math.pow(2.0, match_weight)
    return odds / (1.0 + odds)


def _comparison(spec: Mapping[str, Any]) -> _Comparison:
    name = str(spec["output_column_name"])
    raw = list(spec["comparison_levels"])
    if not raw or str(raw[-1]["sql_condition"]).strip().upper() != "ELSE":
        raise UnsupportedModel(f"comparison {name!r} must end with an ELSE level")
    counted = [lv for lv in raw if not lv.get("is_null_level")]
    defaults_m, defaults_u = _default_m(len(counted)), _default_u(len(counted))
    gammas: list[int] = []
    counter = len(counted) - 1
    for lv in raw:
        gammas.append(-1 if lv.get("is_null_level") else counter)
        counter -= 0 if lv.get("is_null_level") else 1
    u_values = [
        None if lv.get("is_null_level") else _probability(lv, "u_probability", defaults_u[g])
        for lv, g in zip(raw, gammas, strict=True)
    ]
    levels = tuple(
        _level(name, lv, gamma, defaults_m[gamma], u, raw, u_values)
        for lv, gamma, u in zip(raw, gammas, u_values, strict=True)
    )
    return _Comparison(name, levels)


def _level(
    comparison: str,
    spec: Mapping[str, Any],
    gamma: int,
    default_m: float,
    u: float | None,
    siblings: list[Mapping[str, Any]],
    u_values: list[float | None],
) -> _Level:
    condition = str(spec["sql_condition"])
    label = str(spec.get("label_for_charts") or condition)
    is_null, is_else = bool(spec.get("is_null_level")), condition.strip().upper() == "ELSE"
    if is_null:
        test: Test | None = any_null(condition)
        weight = 0.0
    else:
        test = None if is_else else conjunction(condition)
        m = _probability(spec, "m_probability", default_m)
        assert u is not None
        weight = math.log2(max(m, _CLAMP) / max(u, _CLAMP))
    contribution = Contribution(comparison, label, gamma, weight, 0.0)
    tf_column = spec.get("tf_adjustment_column")
    tf_weight = float(spec.get("tf_adjustment_weight", 1.0))
    if is_null or is_else or not tf_column or tf_weight == 0:
        return _Level(test, contribution, None, 0.0, 0.0, 0.0)
    column = str(tf_column).lower()
    if spec.get("disable_tf_exact_match_detection"):
        u_exact = u
    else:
        u_exact = next(
            (
                uv
                for lv, uv in zip(siblings, u_values, strict=True)
                if uv is not None and exact_column(str(lv["sql_condition"])) == column
            ),
            None,
        )
    if u_exact is None:
        raise UnsupportedModel(f"no exact-match level on {column!r} for its TF adjustment")
    minimum_u = float(spec.get("tf_minimum_u_value", 0.0))
    return _Level(test, contribution, column, tf_weight, minimum_u, math.log2(u_exact))


def _probability(spec: Mapping[str, Any], key: str, default: float) -> float:
    value = spec.get(key)
    if value is None:
        return default
    if value == _NOT_OBSERVED:
        return 1e-6
    return float(value)


def _default_m(levels: int) -> list[float]:
    """Splink's starting m values, used for a level the JSON gives none."""
    remainder = (1 - 0.95) / max(levels - 1, 1)
    return [remainder] * (levels - 1) + [0.95]


def _default_u(levels: int) -> list[float]:
    if levels == 2:
        weights = [-5.0]
    else:
        step = (3 - -5) / (levels - 2) if levels > 2 else 0.0
        weights = [-5 + i * step for i in range(levels - 1)]
    weights.append(10.0)
    return [m / math.pow(2.0, w) for m, w in zip(_default_m(levels), weights, strict=True)]


def identifier_differences(model: MatchModel) -> dict[str, float]:
    """Each identifier comparison's weight where nothing agrees, for those the model has."""
    found = ((column, model.difference_weight(column)) for column in IDENTIFIER_COLUMNS)
    return {column: weight for column, weight in found if weight is not None}

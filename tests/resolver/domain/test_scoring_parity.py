"""One model, two paths: the native scorer gives every pair the match weight Splink gives it.

Two models are checked: one of the generated omnichannel data (identifiers, names, dates of
birth, UK postcodes) and one of FEBRL3 (names, dates of birth and addresses, no identifier),
whose plan has the address comparisons."""

from __future__ import annotations

import logging
import math
import random
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from splink import DuckDBAPI, Linker

from idres.ingest.frame import model_frame
from idres.ingest.generator import generate
from idres.ingest.training import (
    load_model,
    model_version,
    save_model,
    train,
)
from idres.resolver.domain.jaro_winkler import jaro_winkler, jaro_winkler_at_least
from idres.resolver.domain.levels import UnsupportedModel
from idres.resolver.domain.names import nickname_group
from idres.resolver.domain.records import Attributes
from idres.resolver.domain.scoring import (
    FEATURE_COLUMNS,
    IDENTIFIER_COLUMNS,
    MatchModel,
    Score,
    TermFrequencies,
    address_parts,
    features,
    postcode_parts,
    probability,
)
from tests.ingest.test_febrl import febrl3

Row = dict[str, str | None]
TOLERANCE = 1e-6

# Name pairs chosen for each Jaro-Winkler level, and for the edges of the thresholds.
NAME_PAIRS: tuple[tuple[str, str], ...] = (
    ("jonathan", "jonathon"),  # >= 0.92
    ("martha", "marhta"),  # >= 0.92
    ("dixon", "dicksonx"),  # >= 0.80
    ("catherine", "kathryn"),  # below 0.80
    ("abc", "adc"),  # 0.8 on paper, 0.7999999999999999 in floating point: below
    ("abcdefghijk", "awxyzbcdefghijk"),  # 0.92 only with DuckDB's fused multiply-add
    ("søren", "soren"),  # DuckDB compares characters (it compared UTF-8 bytes before 2.0)
    ("łukasz", "lukasz"),
    ("a", "b"),
    ("a", "ab"),
    ("robert", "bob"),  # same nickname group, far apart as spelled
    ("j", "john"),  # an initial
    ("jane", "jo"),  # the same initial, not the same name
    ("margaret", "peggy"),
)
DOB_VARIANTS: tuple[tuple[str, str], ...] = (
    ("1984-03-07", "1984-03-07"),
    ("1984-03-07", "1984-07-03"),  # day and month swapped
    ("1984-03-07", "1984-11-20"),  # same year
    ("1984-03-07", "1991-03-07"),
    ("1984-05-05", "1984-05-05"),
)
POSTCODE_VARIANTS: tuple[tuple[str, str], ...] = (
    ("SW1A 1AA", "SW1A 1AA"),
    ("SW1A 1AA", "SW1A 1BB"),  # same sector
    ("SW1A 1AA", "SW1A 2AA"),  # same district
    ("SW1A 1AA", "E1 6AN"),
    ("75008", "75008"),  # not a UK postcode: no sector, no district
    ("75008", "75009"),  # null sectors are not equal, as in SQL
    ("75008", "SW1A 1AA"),
    ("75008", ""),
)
# Streets for each level: exact, Jaro-Winkler >= 0.92, same main word, >= 0.80, neither.
STREET_PAIRS: tuple[tuple[str, str], ...] = (
    ("kingsford smith drive", "Kingsford Smith Dr."),
    ("kingsford smith dr", "kingsfrod smith dr"),
    ("mountain creek road", "mountain view place"),  # the main word, 0.867 as spelled
    ("ainslie avenue", "ainslie street"),  # 0.905: the main word comes first
    ("wallaby place", "wallabee crescent"),  # 0.848
    ("wallaby place", "hoseason street"),
    ("burnage place", "burnage street"),  # 0.92 exactly
    ("the esplanade", "esplanade"),
)
LOCALITY_PAIRS: tuple[tuple[str, str], ...] = (
    ("frankston", "frankston"),
    ("glengowrie", "glengorwie"),  # >= 0.92
    ("ryde", "rydr"),  # >= 0.80
    ("belmont", "balwyn"),
    ("Coffs Harbour", "coffs harbour"),
)


@dataclass(frozen=True)
class Trained:
    model: dict[str, Any]
    table: pa.Table
    rows: list[Row]
    person_of: dict[str, str]

    @property
    def comparisons(self) -> set[str]:
        return set(MatchModel.from_splink(self.model).levels())


@dataclass(frozen=True)
class Scored:
    pairs: list[tuple[Row, Row]]
    native: list[Score]
    splink: list[dict[str, Any]]


def _omnichannel() -> Trained:
    data = generate(1500, 3)
    table = model_frame(data.records)
    model = train(table, seed=7, max_pairs=300_000)
    rows: list[Row] = table.to_pylist()
    return Trained(model, table, rows, dict(data.truth))


def _addresses() -> Trained:
    data = febrl3()
    table = model_frame(data.records)
    model = train(table, seed=7, max_pairs=300_000)
    rows: list[Row] = table.to_pylist()
    return Trained(model, table, rows, data.person_of)


@pytest.fixture(scope="module", params=["omnichannel", "addresses"])
def trained(request: pytest.FixtureRequest) -> Trained:
    return _omnichannel() if request.param == "omnichannel" else _addresses()


@pytest.fixture(scope="module")
def scored(trained: Trained) -> Scored:
    rng = random.Random(11)
    pairs = _random_pairs(trained.rows, rng, 900)
    pairs += _same_person_pairs(trained.rows, trained.person_of, rng, 900)
    pairs += _engineered_pairs(trained.rows, rng, trained.comparisons)
    model = MatchModel.from_splink(trained.model)
    tf = TermFrequencies.from_rows(trained.rows, model.tf_columns)
    native = [model.score(left, right, tf) for left, right in pairs]
    return Scored(pairs, native, _splink_scores(trained, pairs))


def _random_pairs(rows: list[Row], rng: random.Random, count: int) -> list[tuple[Row, Row]]:
    return [(rng.choice(rows), rng.choice(rows)) for _ in range(count)]


def _same_person_pairs(
    rows: list[Row], person_of: Mapping[str, str], rng: random.Random, count: int
) -> list[tuple[Row, Row]]:
    by_person: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_person[person_of[str(row["unique_id"])]].append(row)
    groups = [group for group in by_person.values() if len(group) > 1]
    pairs = []
    for _ in range(count):
        left, right = rng.sample(rng.choice(groups), 2)
        pairs.append((left, right))
    return pairs


def _variant(row: Row, **changes: str | None) -> Row:
    """A changed row, its derived columns kept consistent as `features` would make them."""
    if "given_name" in changes:
        given = changes["given_name"]
        changes["given_name_group"] = nickname_group(given) if given else None
        changes["given_name_initial"] = given[0] if given else None
    return {**row, **changes}


def _engineered_pairs(
    rows: list[Row], rng: random.Random, comparisons: set[str]
) -> list[tuple[Row, Row]]:
    """Pairs that reach every level, term-frequency cases included, on varied base rows."""
    pairs: list[tuple[Row, Row]] = []
    exact = [c for c in (*IDENTIFIER_COLUMNS, "street_number", "state") if c in comparisons]
    for n, base in enumerate(rng.sample(rows, 12)):
        other = rng.choice(rows)
        for column in exact:
            known = rng.choice([r[column] for r in rows if r[column] is not None])
            pairs.append((_variant(base, **{column: known}), _variant(other, **{column: known})))
            unseen = f"unseen-{column}-{n}"  # exact match on a value the table never saw
            pairs.append((_variant(base, **{column: unseen}), _variant(other, **{column: unseen})))
            pairs.append((_variant(base, **{column: known}), _variant(other, **{column: None})))
        for column in ("phone", "loyalty_card"):
            if column in comparisons:  # one digit off
                typed = str(rng.choice([r[column] for r in rows if r[column] is not None]))
                slip = typed[:-1] + ("1" if typed[-1] == "0" else "0")
                pairs.append((_variant(base, **{column: typed}), _variant(other, **{column: slip})))
        if "street" in comparisons:
            pairs += _address_pairs(rows, rng, base, other, n)
        for a, b in NAME_PAIRS:
            pairs.append((_variant(base, given_name=a), _variant(other, given_name=b)))
            pairs.append((_variant(base, surname=b), _variant(other, surname=a)))
        for column in ("given_name", "surname"):
            known = rng.choice([r[column] for r in rows if r[column] is not None])
            pairs.append((_variant(base, **{column: known}), _variant(other, **{column: known})))
        for a, b in DOB_VARIANTS:
            pairs.append((_variant(base, dob=a), _variant(other, dob=b)))
        for a, b in POSTCODE_VARIANTS:
            left, right = _with_postcode(base, a), _with_postcode(other, b)
            pairs.append((left, right))
    return pairs


def _address_pairs(
    rows: list[Row], rng: random.Random, base: Row, other: Row, n: int
) -> list[tuple[Row, Row]]:
    """Every street and locality level, with values the table holds and values it never saw."""
    pairs = [(_with_street(base, a), _with_street(other, b)) for a, b in STREET_PAIRS]
    pairs += [(_with_street(base, ""), _with_street(other, STREET_PAIRS[0][0]))]
    pairs += [(_with_locality(base, a), _with_locality(other, b)) for a, b in LOCALITY_PAIRS]
    for column in ("street", "locality"):
        known = rng.choice([r[column] for r in rows if r[column] is not None])
        pairs.append((_variant(base, **{column: known}), _variant(other, **{column: known})))
        unseen = f"unseen {column} {n}"
        pairs.append((_variant(base, **{column: unseen}), _variant(other, **{column: unseen})))
    return pairs


def _with_street(row: Row, text: str) -> Row:
    _, street, word, _, _ = address_parts(Attributes(street=text))
    return _variant(row, street=street, street_word=word)


def _with_locality(row: Row, text: str) -> Row:
    return _variant(row, locality=address_parts(Attributes(locality=text))[3])


def _with_postcode(row: Row, text: str) -> Row:
    postcode, sector, district = postcode_parts(text)
    return _variant(row, postcode=postcode, postcode_sector=sector, postcode_district=district)


def _side(tag: str, rows: list[Row]) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "unique_id": pa.array([f"{tag}{i}" for i in range(len(rows))], pa.string()),
        "pair_id": pa.array(range(len(rows)), pa.int64()),
    }
    for name in FEATURE_COLUMNS:
        columns[name] = pa.array([row[name] for row in rows], pa.string())
    return pa.table(columns)


def _splink_scores(trained: Trained, pairs: list[tuple[Row, Row]]) -> list[dict[str, Any]]:
    """Splink's own scores for exactly these pairs, with TF tables from the records table."""
    settings = dict(
        trained.model,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(trained.table), settings, log_level=logging.WARNING)
    for column in MatchModel.from_splink(trained.model).tf_columns:
        linker.table_management.compute_tf_table(column)
    left = db_api.register(_side("L", [left for left, _ in pairs]))
    right = db_api.register(_side("R", [right for _, right in pairs]))
    predictions = linker.inference.predict_between(
        left,
        right,
        blocking_rules_to_generate_predictions=["l.pair_id = r.pair_id"],
        warning_mode="never",
    )
    by_pair: dict[int, dict[str, Any]] = {}
    for row in predictions.as_record_list():
        index = int(row["unique_id_l"][1:])
        assert row["unique_id_r"] == f"R{index}"
        by_pair[index] = row
    assert sorted(by_pair) == list(range(len(pairs)))
    return [by_pair[i] for i in range(len(pairs))]


# ---- parity --------------------------------------------------------------------------


def test_the_parity_set_is_large(scored: Scored) -> None:
    # Training time and scoring speed are figures of `make bench`, not assertions here.
    assert len(scored.pairs) >= 2000


def test_every_match_weight_agrees_with_splink(scored: Scored) -> None:
    deltas = [
        abs(native.match_weight - splink["match_weight"])
        for native, splink in zip(scored.native, scored.splink, strict=True)
    ]
    assert max(deltas) <= TOLERANCE
    for native, splink in zip(scored.native, scored.splink, strict=True):
        assert math.isclose(native.probability, splink["match_probability"], abs_tol=1e-9)


def test_every_level_and_part_agrees_with_splink(scored: Scored) -> None:
    for native, splink in zip(scored.native, scored.splink, strict=True):
        for part in native.contributions:
            name = part.comparison
            assert part.gamma == splink[f"gamma_{name}"], (name, part)
            assert abs(part.log2_bayes_factor - splink[f"mw_{name}"]) <= TOLERANCE
            adjustment = splink.get(f"mw_tf_adj_{name}") or 0.0
            assert abs(part.tf_adjustment - adjustment) <= TOLERANCE, (name, part)


def test_every_level_of_every_comparison_is_hit(trained: Trained, scored: Scored) -> None:
    model = MatchModel.from_splink(trained.model)
    wanted = {(name, lv.gamma) for name, levels in model.levels().items() for lv in levels}
    hit = {(part.comparison, part.gamma) for s in scored.native for part in s.contributions}
    assert wanted <= hit, wanted - hit
    splink_hit = {(name, row[f"gamma_{name}"]) for row in scored.splink for name, _ in wanted}
    assert wanted <= splink_hit


def test_term_frequency_adjustments_are_exercised(trained: Trained, scored: Scored) -> None:
    model = MatchModel.from_splink(trained.model)
    adjusted = {p.comparison for s in scored.native for p in s.contributions if p.tf_adjustment}
    assert set(model.tf_columns) <= adjusted
    unseen = [
        part
        for (left, _), score in zip(scored.pairs, scored.native, strict=True)
        for part in score.contributions
        if str(left.get(part.comparison) or "").startswith("unseen-")
    ]
    assert unseen and all(p.tf_adjustment == 0.0 and p.gamma > 0 for p in unseen)


def test_model_saves_loads_and_versions(trained: Trained, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    save_model(trained.model, path)
    loaded = load_model(path)
    assert loaded == trained.model
    assert model_version(loaded) == model_version(dict(reversed(trained.model.items())))
    assert model_version(loaded).startswith("fs-") and len(model_version(loaded)) == 15
    changed = dict(trained.model, probability_two_random_records_match=0.5)
    assert model_version(changed) != model_version(loaded)


# ---- the scorer on its own -------------------------------------------------------------

TINY_MODEL: dict[str, Any] = {
    "probability_two_random_records_match": 0.01,
    "comparisons": [
        {
            "output_column_name": "email",
            "comparison_levels": [
                {
                    "sql_condition": '"email_l" IS NULL OR "email_r" IS NULL',
                    "label_for_charts": "email is NULL",
                    "is_null_level": True,
                },
                {
                    "sql_condition": '"email_l" = "email_r"',
                    "label_for_charts": "Exact match on email",
                    "m_probability": 0.9,
                    "u_probability": 0.01,
                    "tf_adjustment_column": "email",
                    "tf_adjustment_weight": 1.0,
                },
                {"sql_condition": "ELSE", "m_probability": 0.1, "u_probability": 0.99},
            ],
        },
        {
            "output_column_name": "surname",
            "comparison_levels": [
                {
                    "sql_condition": '"surname_l" IS NULL OR "surname_r" IS NULL',
                    "is_null_level": True,
                },
                {
                    "sql_condition": '"surname_l" = "surname_r"',
                    "label_for_charts": "exact",
                    "m_probability": 0.8,
                    "u_probability": 0.05,
                    "tf_adjustment_column": "surname",
                    "tf_adjustment_weight": 0.5,
                    "tf_minimum_u_value": 0.02,
                },
                {
                    "sql_condition": 'jaro_winkler_similarity("surname_l", "surname_r") >= 0.9',
                    "label_for_charts": "similar",
                    "m_probability": 0.15,
                    "u_probability": 0.05,
                },
                {"sql_condition": "ELSE", "m_probability": 0.05, "u_probability": 0.9},
            ],
        },
        {
            "output_column_name": "dob",
            "comparison_levels": [
                {"sql_condition": '"dob_l" IS NULL OR "dob_r" IS NULL', "is_null_level": True},
                {
                    "sql_condition": '"dob_l" = "dob_r"',
                    "m_probability": 0.9,
                    "u_probability": 0.002,
                },
                # No m or u: Splink's defaults for the middle of three levels apply.
                {"sql_condition": 'substr("dob_l", 1, 4) = substr("dob_r", 1, 4)'},
                {"sql_condition": "ELSE", "m_probability": 0.05, "u_probability": 0.95},
            ],
        },
    ],
}


def _row(email: str | None = None, surname: str | None = None, dob: str | None = None) -> Row:
    return {"email": email, "surname": surname, "dob": dob}


def test_scorer_arithmetic_on_a_hand_written_model() -> None:
    model = MatchModel.from_splink(TINY_MODEL)
    tf = TermFrequencies.from_counts(
        {"email": {"a@x.uk": 1, "b@x.uk": 3}, "surname": {"smith": 1, "jones": 99}}
    )
    prior = math.log2(0.01 / 0.99)
    assert model.prior_weight == prior
    assert model.tf_columns == ("email", "surname")

    # Exact email, TF 1/4: log2(m/u) + (log2(u) - log2(tf)); surname null; dob default level.
    score = model.score(_row("a@x.uk", None, "1980-01-02"), _row("a@x.uk", "x", "1980-12-31"), tf)
    email, surname, dob = score.contributions
    assert (email.gamma, email.level) == (1, "Exact match on email")
    assert email.log2_bayes_factor == math.log2(0.9 / 0.01)
    assert email.tf_adjustment == math.log2(0.01) - math.log2(0.25)
    assert (surname.gamma, surname.log2_bayes_factor, surname.tf_adjustment) == (-1, 0.0, 0.0)
    assert (dob.gamma, dob.log2_bayes_factor) == (1, 3.0)  # default m 0.025, u 0.025 / 2**3
    expected = prior + email.log2_bayes_factor + email.tf_adjustment + 3.0
    assert score.match_weight == pytest.approx(expected, abs=1e-12)
    assert score.probability == pytest.approx(1 / (1 + 2**-expected), abs=1e-12)

    # A value the table never saw has no TF adjustment; TF below the minimum u is floored,
    # and the adjustment is scaled by its weight.
    score = model.score(_row("new@x.uk", "smith"), _row("new@x.uk", "smith"), tf)
    email, surname, dob = score.contributions
    assert email.tf_adjustment == 0.0
    assert surname.log2_bayes_factor == math.log2(0.8 / 0.05)
    assert surname.tf_adjustment == pytest.approx(0.5 * (math.log2(0.05) - math.log2(0.02)))
    assert dob.gamma == -1

    # Fuzzy and else levels carry no TF adjustment; else uses its own m and u.
    score = model.score(_row("a@x.uk", "jonesy"), _row("b@x.uk", "jones"), tf)
    email, surname, _ = score.contributions
    assert (email.gamma, email.log2_bayes_factor) == (0, math.log2(0.1 / 0.99))
    assert (surname.level, surname.tf_adjustment) == ("similar", 0.0)
    assert score.match_weight == pytest.approx(
        prior + math.log2(0.1 / 0.99) + math.log2(0.15 / 0.05), abs=1e-12
    )


def test_probability_is_stable_at_the_extremes() -> None:
    assert probability(0.0) == 0.5
    assert probability(-2000.0) == 0.0
    assert probability(2000.0) == 1.0


def test_unsupported_models_are_refused() -> None:
    damerau = {
        "comparisons": [
            {
                "output_column_name": "surname",
                "comparison_levels": [
                    {"sql_condition": 'damerau_levenshtein("surname_l", "surname_r") <= 1'},
                    {"sql_condition": "ELSE"},
                ],
            }
        ]
    }
    with pytest.raises(UnsupportedModel):
        MatchModel.from_splink(damerau)
    no_else = {
        "comparisons": [
            {
                "output_column_name": "surname",
                "comparison_levels": [{"sql_condition": '"surname_l" = "surname_r"'}],
            }
        ]
    }
    with pytest.raises(UnsupportedModel):
        MatchModel.from_splink(no_else)


def test_features_use_the_domain_normalizers() -> None:
    row = features(
        {
            "given_name": " Zoë ",
            "surname": "O'Brien-Smith",
            "email": "test@test.com",
            "phone": "020 7946 0000",
            "handle": "@Ann_B",
            "handle_platform": "ig",
            "device_id": "00000000-0000-0000-0000-000000000000",
            "dob": "1980-02-03",
            "postcode": "sw1a1aa",
        }
    )
    assert row == {
        "email": None,  # placeholder
        "phone": "+442079460000",
        "handle": "instagram:ann_b",
        "device_id": None,  # placeholder
        "loyalty_card": None,
        "given_name": "zoe",
        "given_name_group": "zoe",
        "given_name_initial": "z",
        "surname": "obriensmith",
        "dob": "1980-02-03",
        "postcode": "SW1A 1AA",
        "postcode_sector": "SW1A 1",
        "postcode_district": "SW1A",
        "street_number": None,
        "street": None,
        "street_word": None,
        "locality": None,
        "state": None,
    }
    assert postcode_parts("ec1a  1bb") == ("EC1A 1BB", "EC1A 1", "EC1A")
    assert postcode_parts(" ") == (None, None, None)


def test_features_fold_addresses_and_drop_an_initial_for_a_surname() -> None:
    row = features(
        {
            "given_name": "Bob",
            "surname": "S.",
            "street_number": " 12a ",
            "street": "Kingsford-Smith  Avenue",
            "locality": "Mönchengladbach",
            "state": "ACT",
        }
    )
    assert row["surname"] is None  # an initial, not a surname
    assert (row["street_number"], row["street"], row["street_word"]) == (
        "12a",
        "kingsford smith ave",
        "kingsford",
    )
    assert (row["locality"], row["state"]) == ("monchengladbach", "act")
    assert features({"given_name": "Bob S."})["surname"] is None
    assert features({"given_name": "Bob", "surname": "Su"})["surname"] == "su"
    # The main word is not a type, a number or "the"; a street of types alone keeps one.
    assert address_parts(Attributes(street="The Esplanade"))[1:3] == ("the esplanade", "esplanade")
    assert address_parts(Attributes(street="12 High St"))[1:3] == ("12 high st", "high")


def _strings(rng: random.Random, count: int) -> Iterator[tuple[str, str]]:
    for alphabet in ("abcd", "aeilnorst", "aeéłnøs"):
        for _ in range(count):
            a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
            b = list(a)
            for _ in range(rng.randint(0, 3)):
                b.insert(rng.randint(0, len(b)), rng.choice(alphabet))
                if len(b) > 1:
                    b[rng.randrange(len(b))] = rng.choice(alphabet)
            yield a, "".join(b)
    yield from NAME_PAIRS


def test_jaro_winkler_is_duckdbs_bit_for_bit() -> None:
    pairs = list(_strings(random.Random(3), 4000))
    table = pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]})
    connection = duckdb.connect()
    connection.register("pairs", table)
    expected = connection.sql("select jaro_winkler_similarity(a, b) from pairs").fetchall()
    for (a, b), (want,) in zip(pairs, expected, strict=True):
        assert jaro_winkler(a, b) == want, (a, b)
        for threshold in (0.8, 0.92, want):
            assert jaro_winkler_at_least(a, b, threshold) == (want >= threshold), (a, b)

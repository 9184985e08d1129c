"""Erasure's pure parts: scrubbing payloads, term frequencies, the in-memory record index."""

from __future__ import annotations

from idres.resolver.adapters.record_index import RecordIndex
from idres.resolver.domain.erasure import digest, of_erased, record_digests, scrubbed
from idres.resolver.domain.records import ERASED, parse_record, redacted
from idres.resolver.domain.scoring import TermFrequencies, forget_terms

IDENTIFYING = frozenset({"email"})


def test_scrubbing_drops_erased_strings_and_the_pairs_that_hold_them() -> None:
    payload = {
        "record_id": "r1",
        "attributes": ["Zeb", "Lee", None],
        "holds": [["email", "zeb@post.co.uk"], ["phone", "+447911000001"]],
        "features": {"email": "zeb@post.co.uk", "surname": "lee"},
    }
    clean = scrubbed(payload, frozenset({"Zeb", "zeb@post.co.uk"}))
    assert clean == {
        "record_id": "r1",
        "attributes": ["Lee", None],
        "holds": [["phone", "+447911000001"]],
        "features": {"surname": "lee"},
    }
    assert of_erased(payload) == {"record_id": "r1", "forgotten": True}


def test_an_identifier_leaves_the_counts_whole_and_a_name_one_at_a_time() -> None:
    counts = {"email": {"zeb@post.co.uk": 5}, "surname": {"lee": 3, "quixote": 2}}
    totals = {"email": 40, "surname": 50}
    row = {"email": "zeb@post.co.uk", "surname": "lee"}
    assert forget_terms(counts, totals, row, ["email", "surname"], IDENTIFYING) == 1
    assert counts == {"email": {}, "surname": {"lee": 2, "quixote": 2}}
    assert totals == {"email": 35, "surname": 49}
    assert forget_terms(counts, totals, {"surname": "lee"}, ["surname"], IDENTIFYING) == 1
    assert counts["surname"] == {"quixote": 2} and totals["surname"] == 47


def test_online_frequencies_lose_the_record_and_the_training_share_alike() -> None:
    tf = TermFrequencies.from_counts({"email": {"zeb@post.co.uk": 2}}, {"email": 10})
    tf.add({"email": "zeb@post.co.uk"}, ["email"])
    tf.add({"email": "amy@post.co.uk"}, ["email"])
    assert tf.frequency("email", "zeb@post.co.uk") == 3 / 12
    tf.forget({"email": "zeb@post.co.uk"}, ["email"], IDENTIFYING)
    assert tf.frequency("email", "zeb@post.co.uk") is None
    assert tf.frequency("email", "amy@post.co.uk") == 1 / 9


def test_the_record_index_forgets_a_record_and_clears_a_column() -> None:
    index = RecordIndex([("email",), ("surname", "dob")], ["email", "surname"], vectors=True)
    index.add("r1", "c1", {"email": "zeb@post.co.uk", "surname": "lee", "dob": "1980-01-02"})
    index.add("r2", "c1", {"email": "amy@post.co.uk", "surname": "lee", "dob": "1980-01-02"})
    index.flush()
    assert index.blocked({"email": "zeb@post.co.uk"}) == {"r1"}
    index.remove("r1")
    assert index.blocked({"surname": "lee", "dob": "1980-01-02"}) == {"r2"}
    assert index.blocked({"email": "zeb@post.co.uk"}) == set()
    assert index.nearest({"surname": "lee", "dob": "1980-01-02"}, 5) == ["r2"]
    assert index.tf.frequency("email", "zeb@post.co.uk") is None
    index.clear("r2", ["email"])
    assert index.blocked({"email": "amy@post.co.uk"}) == set()
    assert index.records_of("c1", 5) == [("r2", {"surname": "lee", "dob": "1980-01-02"})]


def test_a_suppressed_identifier_leaves_the_record_as_a_named_empty_field() -> None:
    record = parse_record({"record_id": "r1", "email": "zeb@post.co.uk", "surname": "Lee"})
    digests = record_digests(b"k", record)
    assert digest(b"k", "record", "r1") in digests
    email = record.identifiers[0].identifier
    assert digests[digest(b"k", "email", "zeb@post.co.uk")] == email
    clean = redacted(record, [email], "sealed")
    assert clean.identifiers == () and clean.fingerprint == "sealed"
    assert [(f.field, f.raw, f.reason) for f in clean.flagged] == [("email", "", ERASED)]
    assert clean.attributes == record.attributes

"""Weak-attribute vectors find other records of the same person among many people."""

from __future__ import annotations

import collections
from datetime import date

import numpy as np

from idres.ingest.generator import generate
from idres.resolver.adapters.vector_index import VectorIndex, weak_vector
from idres.resolver.domain.errors import ValidationError
from idres.resolver.domain.records import Attributes, parse_record


def test_typos_and_swapped_dates_stay_close_and_strangers_far() -> None:
    ann = weak_vector(Attributes("Annabel", "Whitfield", date(1984, 3, 7), "LS6 2AB"))
    typo = weak_vector(Attributes("Anabel", "Whitfeild", date(1984, 7, 3), "LS6 2AB"))
    other = weak_vector(Attributes("Grace", "Okafor", date(1991, 11, 23), "BS1 4DJ"))
    assert ann is not None and typo is not None and other is not None
    assert float(ann @ typo) > 0.6 > 0.2 > float(ann @ other)
    assert weak_vector(Attributes()) is None


def test_neighbours_include_the_same_person() -> None:
    data = generate(1500, 11)
    truth = dict(data.truth)
    keys, vectors = [], []
    for values in data.records:
        try:
            record = parse_record(values)
        except ValidationError:
            continue
        vector = weak_vector(record.attributes)
        if vector is not None:
            keys.append(record.record_id)
            vectors.append(vector)
    index = VectorIndex()
    index.add(keys, vectors)
    assert len(index) == len(keys)
    people = collections.Counter(truth[k] for k in keys)
    found = [
        any(truth[o] == truth[k] for o, _ in index.search(v, 21) if o != k)
        for k, v in zip(keys, vectors, strict=True)
        if people[truth[k]] > 1
    ]
    recall = float(np.mean(found))
    print(f"recall@20 over {len(found)} records: {recall:.3f}")
    assert recall > 0.9

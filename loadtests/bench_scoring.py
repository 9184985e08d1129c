"""`make bench`, model part: Splink training time and the native scorer's cost per pair."""

from __future__ import annotations

import argparse
import random
import time

from idres.ingest.frame import model_frame
from idres.ingest.generator import generate
from idres.ingest.training import train
from idres.resolver.domain.scoring import MatchModel, TermFrequencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--max-pairs", type=int, default=1_000_000)
    args = parser.parse_args()
    table = model_frame(generate(args.persons, 7).records)
    started = time.perf_counter()
    model = train(table, seed=7, max_pairs=args.max_pairs)
    trained = time.perf_counter() - started
    scorer = MatchModel.from_splink(model)
    rows = table.to_pylist()
    tf = TermFrequencies.from_rows(rows, scorer.tf_columns)
    rng = random.Random(7)
    pairs = [(rng.choice(rows), rng.choice(rows)) for _ in range(args.pairs)]
    started = time.perf_counter()
    for left, right in pairs:
        scorer.score(left, right, tf)
    per_pair = (time.perf_counter() - started) / len(pairs) * 1e6
    print(f"model: trained on {table.num_rows:,} records in {trained:.1f} s")
    print(f"model: native scorer {per_pair:.1f} µs per pair over {len(pairs):,} random pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

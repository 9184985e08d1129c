"""`make bench-batch`: `idres dedup` against Splink alone on the same file, side by side.

Each side runs as its own process, so its wall time and peak memory (from `wait4`) are its
own. Splink alone reads the file into the same model frame, trains with the same caps,
predicts with the model's blocking rules and clusters at p >= 0.9, all on DuckDB.

    python -m loadtests.bench_batch --persons 200000     # about 1M records
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from idres.ingest.frame import read_file
from idres.ingest.generator import write_generated
from idres.ingest.training import DEFAULT_MAX_PAIRS, train

THRESHOLD = 0.9


def splink_alone(path: Path, max_pairs: int) -> None:
    """Read, train, predict, cluster with Splink only; prints the cluster count."""
    from splink import DuckDBAPI, Linker

    frame = read_file(path).table()
    model = train(frame, max_pairs=max_pairs)
    linker = Linker(DuckDBAPI().register(frame), model, log_level=logging.WARNING)
    pairs = linker.inference.predict(threshold_match_probability=THRESHOLD, warning_mode="never")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, THRESHOLD)
    relation = clusters.as_duckdbpyrelation()
    count = len(relation.select("cluster_id").distinct().fetchall())
    print(f"splink: {frame.num_rows:,} records in {count:,} clusters", file=sys.stderr)


def measured(cmd: list[str], timeout: float) -> tuple[float, float]:
    """(wall seconds, peak MB) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=sys.stderr, stderr=sys.stderr)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            raise TimeoutError(f"{cmd[2]} ran over {timeout:.0f} s")
        time.sleep(0.2)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-pairs", type=int, default=DEFAULT_MAX_PAIRS)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per side, seconds")
    parser.add_argument("--splink-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.splink_only:
        splink_alone(args.splink_only, args.max_pairs)
        return 0
    with tempfile.TemporaryDirectory(prefix="idres-batch-") as folder:
        data, _, count = write_generated(Path(folder) / "people.csv", args.persons, args.seed)
        print(f"{count:,} records of {args.persons:,} people", file=sys.stderr)
        python = sys.executable
        pairs = str(args.max_pairs)
        splink = measured(
            [
                python,
                "-m",
                "loadtests.bench_batch",
                "--splink-only",
                str(data),
                "--max-pairs",
                pairs,
            ],
            args.timeout,
        )
        out = str(Path(folder) / "clusters.parquet")
        idres = measured(
            [python, "-m", "idres.cli", "dedup", str(data), "--out", out, "--max-pairs", pairs],
            args.timeout,
        )
    print("| job | records | seconds | peak MB |\n| --- | ---: | ---: | ---: |")
    print(f"| Splink alone | {count:,} | {splink[0]:.0f} | {splink[1]:,.0f} |")
    print(f"| idres dedup | {count:,} | {idres[0]:.0f} | {idres[1]:,.0f} |")
    print(f"\nidres / Splink time: {idres[0] / splink[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

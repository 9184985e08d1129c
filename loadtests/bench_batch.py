"""`make bench-batch`: `idres dedup` against Splink alone on the same file, side by side.

Each side runs as its own process, so its wall time and peak memory are its own (the peak is
of the summed resident sets of the process and its workers). Splink alone reads the
file into the same model frame, trains with the same caps, predicts with the model's blocking
rules and clusters at p >= 0.9, all on DuckDB. Both write their clusters, and both are scored
against the generator's truth.

    python -m loadtests.bench_batch                      # 250,000 people: about 1M records
    python -m loadtests.bench_batch --data people.csv    # an existing file
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from idres.ingest.evaluation import evaluate_files
from idres.ingest.files import open_table
from idres.ingest.frame import read_file
from idres.ingest.generator import write_generated
from idres.ingest.training import DEFAULT_MAX_PAIRS, train

THRESHOLD = 0.9


def splink_alone(path: Path, max_pairs: int, out: Path) -> None:
    """Read, train, predict, cluster with Splink only, and write the clusters as idres does."""
    from splink import DuckDBAPI, Linker

    frame = read_file(path).table()
    model = train(frame, max_pairs=max_pairs)
    linker = Linker(DuckDBAPI().register(frame), model, log_level=logging.WARNING)
    pairs = linker.inference.predict(threshold_match_probability=THRESHOLD, warning_mode="never")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, THRESHOLD)
    relation = clusters.as_duckdbpyrelation().select("unique_id AS record_id, cluster_id")
    relation.to_parquet(str(out))
    print(f"splink: {frame.num_rows:,} records clustered", file=sys.stderr)


def measured(cmd: list[str], timeout: float) -> tuple[float, float]:
    """(wall seconds, peak MB) of one child process and the workers it starts: the peak of
    their summed resident sets, an upper bound, since pages a fork shares count twice (the
    proportional sizes would not, but reading them costs a quarter of a core)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=sys.stderr, stderr=sys.stderr)
    deadline = started + timeout
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            raise TimeoutError(f"{cmd[2]} ran over {timeout:.0f} s")
        peak = max(peak, _tree_mb(proc.pid))
        time.sleep(0.5)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return time.perf_counter() - started, max(peak, usage.ru_maxrss / 1024)


def _tree_mb(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=250_000)
    parser.add_argument("--data", type=Path, help="use this records file instead of generating")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-pairs", type=int, default=DEFAULT_MAX_PAIRS)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per side, seconds")
    parser.add_argument("--splink-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.splink_only:
        splink_alone(args.splink_only, args.max_pairs, args.out)
        return 0
    with tempfile.TemporaryDirectory(prefix="idres-batch-") as work:
        folder = Path(work)
        if args.data is None:
            data, truth, written = write_generated(folder / "people.csv", args.persons, args.seed)
            rows = f"{written:,}"
        else:
            data, truth = args.data, args.data.with_name(args.data.stem + ".truth.csv")
            with open_table(data) as table:
                counted = table.count_rows()
            rows = "?" if counted is None else f"{counted:,}"
        print(f"{rows} rows in {data.name}", file=sys.stderr)
        python, pairs = sys.executable, str(args.max_pairs)
        outs = {"Splink alone": folder / "splink.parquet", "idres dedup": folder / "idres.parquet"}
        splink_cmd = [python, "-m", "loadtests.bench_batch", "--splink-only", str(data)]
        idres_cmd = [python, "-m", "idres.cli", "dedup", str(data)]
        runs = {
            "Splink alone": measured(
                [*splink_cmd, "--out", str(outs["Splink alone"]), "--max-pairs", pairs],
                args.timeout,
            ),
            "idres dedup": measured(
                [*idres_cmd, "--out", str(outs["idres dedup"]), "--max-pairs", pairs],
                args.timeout,
            ),
        }
        scores = (
            {job: evaluate_files(truth, out) for job, out in outs.items()}
            if truth.is_file()
            else {}
        )
    print("| job | rows | seconds | peak MB | pair F1 | B³ F1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for job, (seconds, peak) in runs.items():
        quality = (
            f"{scores[job].pairwise_f1:.3f} | {scores[job].bcubed_f1:.3f}" if scores else "- | -"
        )
        print(f"| {job} | {rows} | {seconds:.0f} | {peak:,.0f} | {quality} |")
    ratio = runs["idres dedup"][0] / runs["Splink alone"][0]
    print(f"\nidres / Splink time: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Streams a canonical-schema file through a running server's `ObserveBatch`, for loading
from another machine, with the report the local load gives (warnings and rejects by row).

Batches go out a few at a time and their results are read in file order. A batch the server
could not take (UNAVAILABLE, RESOURCE_EXHAUSTED, a deadline) is sent again after a pause:
records it stored already answer ALREADY_OBSERVED, so a resend never duplicates anything.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import grpc
from tqdm import tqdm

from idres.ingest.files import RawRow, open_table
from idres.ingest.loader import IngestSummary, Rejection
from idres.resolver.domain.errors import InvalidValue
from idres.resolver.domain.records import CANONICAL_COLUMNS, Flagged, parse_ts
from idres.resolver.resolution import Outcome
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

log = logging.getLogger(__name__)
BATCH = 200
ATTEMPTS = 6
TIMEOUT_S = 60.0
# Statuses after which the same batch may succeed: the server is busy, restarting or draining.
_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
_RECORD_TRANSIENT = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED"}
_OUTCOMES = {
    pb.OBSERVE_OUTCOME_CREATED: Outcome.CREATED,
    pb.OBSERVE_OUTCOME_LINKED: Outcome.LINKED,
    pb.OBSERVE_OUTCOME_MERGED: Outcome.MERGED,
    pb.OBSERVE_OUTCOME_ALREADY_OBSERVED: Outcome.ALREADY_OBSERVED,
}


class RemoteError(RuntimeError):
    """The server refused a batch for good, or stayed unreachable."""


def ingest_remote(
    path: Path,
    stub: rpc.IdentityServiceStub,
    *,
    batch: int = BATCH,
    workers: int = 4,
    progress: bool = True,
) -> IngestSummary:
    summary = IngestSummary()
    started = time.perf_counter()
    with open_table(path) as table:
        if table.extra_columns:
            log.warning("ignoring columns not in the schema: %s", ", ".join(table.extra_columns))
        bar = tqdm(
            total=table.count_rows(),
            unit="rec",
            disable=not progress,
            desc="ingest",
            smoothing=0.1,
            mininterval=0.5,
        )
        with bar, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send") as pool:
            for rows, future in _in_flight(pool, stub, _chunks(iter(table), batch), workers * 2):
                _collect(summary, rows, future.result())
                bar.update(len(rows))
    summary.seconds = time.perf_counter() - started
    return summary


def _chunks(rows: Iterator[RawRow], size: int) -> Iterator[list[RawRow]]:
    chunk: list[RawRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


Sent = Future[list[pb.ObserveResult]]


def _in_flight(
    pool: ThreadPoolExecutor,
    stub: rpc.IdentityServiceStub,
    chunks: Iterator[list[RawRow]],
    window: int,
) -> Iterator[tuple[list[RawRow], Sent]]:
    """At most `window` batches in flight, yielded in file order."""
    pending: deque[tuple[list[RawRow], Sent]] = deque()
    for rows in chunks:
        records = [record(row.values)[0] for row in rows if not row.error]
        pending.append((rows, pool.submit(send, stub, records)))
        if len(pending) >= window:
            yield pending.popleft()
    yield from pending


def record(values: dict[str, str]) -> tuple[pb.Record, list[Flagged]]:
    """A file row as a Record; a timestamp that does not parse is left out and flagged, as
    the server would flag it."""
    message = pb.Record()
    for name in CANONICAL_COLUMNS:
        value = values.get(name, "")
        if value and name != "ts":
            setattr(message, name, value)
    stamp = values.get("ts", "").strip()
    if not stamp:
        return message, []
    try:
        message.ts.FromDatetime(parse_ts(stamp))
    except (InvalidValue, ValueError, OverflowError) as exc:
        message.ClearField("ts")
        return message, [Flagged("ts", stamp, str(exc))]
    return message, []


def send(stub: rpc.IdentityServiceStub, records: Sequence[pb.Record]) -> list[pb.ObserveResult]:
    """One batch's results; transient failures of the call or of single records are retried."""
    results: list[pb.ObserveResult | None] = [None] * len(records)
    todo = list(range(len(records)))
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(min(5.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0))
        try:
            reply = stub.ObserveBatch(
                pb.ObserveBatchRequest(records=[records[i] for i in todo]), timeout=TIMEOUT_S
            )
        except grpc.RpcError as exc:
            if exc.code() not in _TRANSIENT:
                refused = f"{exc.code().name}: {exc.details()}"
                raise RemoteError(f"the server refused a batch: {refused}") from None
            continue
        for i, result in zip(todo, reply.results, strict=True):
            results[i] = result
        todo = [i for i in todo if _transient(results[i])]
        if not todo:
            return [r for r in results if r is not None]
    raise RemoteError(f"the server stayed unavailable after {ATTEMPTS} attempts")


def _transient(result: pb.ObserveResult | None) -> bool:
    return result is None or (
        result.WhichOneof("result") == "error" and result.error.code in _RECORD_TRANSIENT
    )


def _collect(
    summary: IngestSummary, rows: list[RawRow], results: Iterable[pb.ObserveResult]
) -> None:
    replies = iter(results)
    for row in rows:
        summary.read += 1
        if row.error:
            summary.rejections.append(Rejection(row.number, "row", row.error))
            continue
        result = next(replies)
        if result.WhichOneof("result") == "observed":
            _observed(summary, row, result.observed)
        else:
            summary.rejections.extend(_rejections(row.number, result.error))


def _observed(summary: IngestSummary, row: RawRow, reply: pb.ObserveResponse) -> None:
    flagged = record(row.values)[1]
    flagged += [Flagged(w.field, w.raw, w.reason) for w in reply.warnings]
    summary.warnings.note(row.number, flagged)
    summary.outcomes[_OUTCOMES.get(reply.outcome, Outcome.LINKED)] += 1
    summary.absorbed += len(reply.absorbed_customer_ids)


def _rejections(row: int, error: pb.RecordError) -> list[Rejection]:
    if error.field_violations:
        return [
            Rejection(row, v.field.removeprefix("record."), v.description)
            for v in error.field_violations
        ]
    return [Rejection(row, "record_id", error.message)]

"""Plain-text tables for people at a terminal."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from idres.v1 import identity_pb2 as pb


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers), line, *(fmt.format(*map(str, r)) for r in rows)])


def decision(value: pb.Decision.ValueType) -> str:
    return pb.Decision.Name(value).removeprefix("DECISION_").lower().replace("_", " ")


def identifier(ident: pb.Identifier) -> str:
    kind = pb.IdentifierKind.Name(ident.kind).removeprefix("IDENTIFIER_KIND_").lower()
    return f"{kind}={ident.value}"


def matched(response: pb.ResolveResponse) -> str:
    return ", ".join(identifier(i) for i in response.matched_identifiers) or "-"


def ignored(response: pb.ResolveResponse) -> str:
    """Evidence that did not count, and why."""
    notes = []
    for e in response.evidence:
        if e.outcome != pb.EVIDENCE_OUTCOME_MATCHED:
            outcome = pb.EvidenceOutcome.Name(e.outcome).removeprefix("EVIDENCE_OUTCOME_").lower()
            notes.append(f"{identifier(e.identifier)}: {outcome}")
    return "; ".join(notes) or "-"


def rpc_error(error: grpc.RpcError) -> str:
    """The status and, for INVALID_ARGUMENT, each field violation on its own line."""
    call = error if isinstance(error, grpc.Call) else None
    code = call.code().name if call else "UNKNOWN"
    status = rpc_status.from_call(call) if call else None
    violations = []
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            violations += [f"  {v.field}: {v.description}" for v in bad.field_violations]
    if violations:
        return "\n".join([f"{code}:", *violations])
    return f"{code}: {call.details() if call else error}"

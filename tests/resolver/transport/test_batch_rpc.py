"""ObserveBatch through a real server: records in order, each with its own result."""

from __future__ import annotations

import grpc
import psycopg
import pytest

from idres.resolver.transport.servicer import MAX_BATCH
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc


def _batch(*records: pb.Record) -> pb.ObserveBatchRequest:
    return pb.ObserveBatchRequest(records=list(records))


def test_each_record_sees_the_ones_before_it(stub: rpc.IdentityServiceStub) -> None:
    reply = stub.ObserveBatch(
        _batch(
            pb.Record(record_id="web-1", email="ann@shop.co.uk"),
            pb.Record(record_id="app-1", email="ann@shop.co.uk", phone="+447911123456"),
            pb.Record(record_id="till-1", phone="+447911123456", given_name="Ann"),
        ),
        timeout=30,
    )
    observed = [r.observed for r in reply.results]
    assert [r.WhichOneof("result") for r in reply.results] == ["observed"] * 3
    assert [o.outcome for o in observed] == [
        pb.OBSERVE_OUTCOME_CREATED,
        pb.OBSERVE_OUTCOME_LINKED,
        pb.OBSERVE_OUTCOME_LINKED,
    ]
    assert len({o.customer_id for o in observed}) == 1


def test_a_refused_record_keeps_its_place_and_the_others_are_stored(
    stub: rpc.IdentityServiceStub, database_url: str
) -> None:
    stub.Observe(pb.ObserveRequest(record=pb.Record(record_id="r2", email="a@shop.co.uk")))
    reply = stub.ObserveBatch(
        _batch(
            pb.Record(record_id="r1", email="bob@shop.co.uk"),
            pb.Record(record_id="bad id!", email="cat@shop.co.uk"),
            pb.Record(record_id="r2", email="other@shop.co.uk"),  # stored with other content
            pb.Record(record_id="r3", email="dan@shop.co.uk", phone="12"),
        ),
        timeout=30,
    )
    kinds = [r.WhichOneof("result") for r in reply.results]
    assert kinds == ["observed", "error", "error", "observed"]
    bad, reused = reply.results[1].error, reply.results[2].error
    assert bad.code == "INVALID_ARGUMENT"
    assert [v.field for v in bad.field_violations] == ["record.record_id"]
    assert reused.code == "ALREADY_EXISTS"
    assert [w.field for w in reply.results[3].observed.warnings] == ["phone"]
    with psycopg.connect(database_url) as conn:
        stored = {r[0] for r in conn.execute("SELECT record_id FROM records")}
    assert stored == {"r1", "r2", "r3"}


def test_a_batch_sent_again_changes_nothing(stub: rpc.IdentityServiceStub) -> None:
    batch = _batch(*(pb.Record(record_id=f"r{i}", email=f"p{i}@shop.co.uk") for i in range(5)))
    first = stub.ObserveBatch(batch, timeout=30)
    again = stub.ObserveBatch(batch, timeout=30)
    assert {r.observed.outcome for r in again.results} == {pb.OBSERVE_OUTCOME_ALREADY_OBSERVED}
    assert [r.observed.customer_id for r in again.results] == [
        r.observed.customer_id for r in first.results
    ]


def test_a_batch_over_the_limit_is_refused_whole(stub: rpc.IdentityServiceStub) -> None:
    records = [pb.Record(record_id=f"r{i}", email=f"p{i}@x.co.uk") for i in range(MAX_BATCH + 1)]
    with pytest.raises(grpc.RpcError) as caught:
        stub.ObserveBatch(_batch(*records), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"at most {MAX_BATCH:,} records" in (caught.value.details() or "")

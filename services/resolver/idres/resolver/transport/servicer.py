"""The gRPC servicer: convert, call the resolver, map errors. Nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from functools import partial
from typing import TypeVar

import grpc

from idres.resolver.adapters.change_feed import BATCH
from idres.resolver.adapters.database import connection_wait
from idres.resolver.batches import observe_batch
from idres.resolver.changes import Watch
from idres.resolver.customers import Customers
from idres.resolver.domain.errors import (
    DeadlineError,
    FieldViolation,
    IdresError,
    ValidationError,
)
from idres.resolver.erasure import Erasure
from idres.resolver.explanation import explain
from idres.resolver.overrides import Overrides
from idres.resolver.resolution import Observation, Resolver
from idres.resolver.reviews import Reviews
from idres.resolver.transport import convert
from idres.resolver.transport.errors import record_error, to_status
from idres.v1 import identity_pb2 as pb
from idres.v1 import identity_pb2_grpc as rpc

T = TypeVar("T")
MAX_BATCH = 1000
"""Records an ObserveBatch call may carry: a batch holds its connection while it links."""


class IdentityServicer(rpc.IdentityServiceServicer):
    """Resolve runs on the event loop (memory only); the others wait on the store in `executor`."""

    def __init__(
        self,
        resolver: Resolver,
        executor: Executor,
        poll_s: float = 0.5,
        channel_priority: Sequence[str] = (),
        pool_wait_s: float = 2.0,
    ) -> None:
        """`poll_s`: how often an idle change stream looks for new changes;
        `channel_priority`: the channels a customer's profile trusts first;
        `pool_wait_s`: the longest a call waits for a database connection."""
        self.resolver = resolver
        self.customers = Customers(resolver, channel_priority)
        self.reviews = Reviews(resolver)
        self.poll_s = poll_s
        self.overrides = Overrides(resolver)
        self.erasure = Erasure(resolver)
        self.executor = executor
        self.pool_wait_s = pool_wait_s

    async def Observe(  # noqa: N802 (gRPC method names)
        self, request: pb.ObserveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ObserveResponse:
        def call() -> pb.ObserveResponse:
            obs = self.resolver.observe_values(convert.record_values(request.record))
            return convert.observe_response(obs, obs.model_version)

        return await self._offload(context, call)

    async def ObserveBatch(  # noqa: N802
        self, request: pb.ObserveBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.ObserveBatchResponse:
        if len(request.records) > MAX_BATCH:
            limit = f"at most {MAX_BATCH:,} records a call, not {len(request.records):,}"
            await context.abort_with_status(
                to_status(ValidationError([FieldViolation("records", limit)]))
            )

        def call() -> pb.ObserveBatchResponse:
            values = [convert.record_values(record) for record in request.records]
            results = [_result(r) for r in observe_batch(self.resolver, values)]
            return pb.ObserveBatchResponse(results=results)

        return await self._offload(context, call)

    async def Resolve(  # noqa: N802
        self, request: pb.ResolveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResolveResponse:
        try:
            query = self.resolver.query(convert.query_values(request))
            plan, version = self.resolver.lookup(query)
        except IdresError as exc:
            await context.abort_with_status(to_status(exc))
        return convert.resolve_response(plan, version, query.flagged)

    async def GetCustomer(  # noqa: N802
        self, request: pb.GetCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCustomerResponse:
        def call() -> pb.GetCustomerResponse:
            page = self.customers.get(
                request.customer_id, request.timeline_page_size, request.timeline_page_token
            )
            return convert.customer_response(page)

        return await self._offload(context, call)

    async def Explain(  # noqa: N802
        self, request: pb.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExplainResponse:
        def call() -> pb.ExplainResponse:
            subject = convert.explain_subject(request)
            return convert.explain_response(explain(self.resolver, subject))

        return await self._offload(context, call)

    async def MergeCustomers(  # noqa: N802
        self, request: pb.MergeCustomersRequest, context: grpc.aio.ServicerContext
    ) -> pb.MergeCustomersResponse:
        def call() -> pb.MergeCustomersResponse:
            merged = self.overrides.merge(
                list(request.customer_ids), reason=request.reason, actor=request.actor
            )
            return convert.merge_response(merged)

        return await self._offload(context, call)

    async def SplitCustomer(  # noqa: N802
        self, request: pb.SplitCustomerRequest, context: grpc.aio.ServicerContext
    ) -> pb.SplitCustomerResponse:
        def call() -> pb.SplitCustomerResponse:
            split = self.overrides.split(
                request.customer_id,
                list(request.record_ids),
                reason=request.reason,
                actor=request.actor,
            )
            return convert.split_response(split)

        return await self._offload(context, call)

    async def ListReviews(  # noqa: N802
        self, request: pb.ListReviewsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListReviewsResponse:
        def call() -> pb.ListReviewsResponse:
            found, token = self.reviews.page(
                request.page_size, request.page_token, decided=request.include_decided
            )
            return pb.ListReviewsResponse(
                reviews=[convert.review(r) for r in found], next_page_token=token
            )

        return await self._offload(context, call)

    async def DecideReview(  # noqa: N802
        self, request: pb.DecideReviewRequest, context: grpc.aio.ServicerContext
    ) -> pb.DecideReviewResponse:
        def call() -> pb.DecideReviewResponse:
            review, customer = self.reviews.decide(
                request.review_id,
                convert.REVIEW_DECISIONS.get(request.decision, ""),
                candidate=request.candidate_customer_id,
                reason=request.reason,
                actor=request.actor,
            )
            return pb.DecideReviewResponse(review=convert.review(review), customer_id=customer)

        return await self._offload(context, call)

    async def Forget(  # noqa: N802
        self, request: pb.ForgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.ForgetResponse:
        def call() -> pb.ForgetResponse:
            target = convert.erasure_target(request)
            receipt = self.erasure.forget(target, reason=request.reason, actor=request.actor)
            return convert.forget_response(receipt)

        return await self._offload(context, call)

    async def LiftSuppression(  # noqa: N802
        self, request: pb.LiftSuppressionRequest, context: grpc.aio.ServicerContext
    ) -> pb.LiftSuppressionResponse:
        def call() -> pb.LiftSuppressionResponse:
            target = convert.erasure_target(request)
            lifted = self.erasure.lift(target, reason=request.reason, actor=request.actor)
            return pb.LiftSuppressionResponse(lifted=lifted)

        return await self._offload(context, call)

    async def WatchChanges(  # noqa: N802
        self, request: pb.WatchChangesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.CustomerChange]:
        store, limit = self.resolver.store, max(0, request.limit)
        watch = await self._offload(context, lambda: Watch(store, request.after))
        sent = 0
        while not limit or sent < limit:
            wanted = limit - sent if limit else BATCH
            changes = await self._offload(context, partial(watch.next, wanted))
            for change in changes:
                yield convert.customer_change(change)
                sent += 1
            if not changes:
                await asyncio.sleep(self.poll_s)

    async def _offload(self, context: grpc.aio.ServicerContext, call: Callable[[], T]) -> T:
        def unless_late() -> T:
            # A call that waited in the pool past its deadline is not worked on: nobody
            # waits for the answer, and a write would land after the caller gave up.
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                raise DeadlineError("the deadline passed before the call was worked on")
            # With PostgreSQL down, a call is UNAVAILABLE at once, not after the pool's wait.
            with connection_wait(self.pool_wait_s, remaining):
                return call()

        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, unless_late)
        except IdresError as exc:
            await context.abort_with_status(to_status(exc))
            raise  # unreachable: abort_with_status raises


def _result(outcome: Observation | IdresError) -> pb.ObserveResult:
    if isinstance(outcome, IdresError):
        return pb.ObserveResult(error=record_error(outcome))
    return pb.ObserveResult(observed=convert.observe_response(outcome, outcome.model_version))

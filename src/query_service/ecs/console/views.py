"""The console's pages: each view its own URL, every filter a GET parameter.

The data comes the way the API's own comes: the request is parsed by the domain's
``parse_query_params`` (the same rules, the same words for bad input) and run by the ECS
handler's ``InternalApiClient``. There is no second path to the records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from query_service.domain.errors import Problem
from query_service.domain.queries import QueryKind, parse_query_params
from query_service.domain.timeline import TIMELINE_FIELDS
from query_service.ecs.console.access import Who
from query_service.ecs.console.filters import (
    PLATFORMS,
    STATUSES,
    WINDOWS,
    Filters,
    more_link,
    problem_lines,
)
from query_service.ecs.console.identity import Identity
from query_service.ecs.console.render import NOT_A_PAGE, Pages
from query_service.ecs.internal_client import InternalApiClient, QueryResult
from query_service.ecs.routes import InternalClient
from query_service.logs import request_id_var

audit_log = logging.getLogger("query_service.console.audit")

# lookup → (query, its id field, the view's path)
LIST_VIEWS = {
    "user": (QueryKind.USER, "user_id", "users"),
    "transaction": (QueryKind.TX, "transaction_id", "transactions"),
}


def build_router(pages: Pages) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)

    def audit(who: Identity, lookup: str, target: str, outcome: str, **details: Any) -> None:
        audit_log.info(
            "console lookup",
            extra={
                "who": who.who,
                "lookup": lookup,
                "target": target,
                "outcome": outcome,
                "request_id": request_id_var.get(),
                **details,
            },
        )

    def message(who: Identity, status: int, title: str, *lines: str, **context: Any) -> Response:
        return pages.render(
            "message.html", status, who=who.who, title=title, lines=list(lines), **context
        )

    def problem_page(who: Identity, problem: Problem, **context: Any) -> Response:
        heading, lines = problem_lines(problem)
        return message(who, problem.status, heading, *lines, **context)

    async def run(
        client: InternalApiClient, kind: QueryKind, params: Mapping[str, list[str]]
    ) -> QueryResult:
        query = parse_query_params(kind, params)
        return await client.query(query, request_id_var.get() or "")

    @router.get("")
    async def console_root() -> Response:
        return pages.redirect("/console/", 308)

    @router.get("/")
    async def search_form(who: Who) -> Response:
        return pages.render("search.html", who=who.who, title="Find deliveries", q="")

    @router.get("/search")
    async def search(request: Request, who: Who, client: InternalClient) -> Response:
        """One box, either kind of id: both lookups run at once, and the page says which hit."""
        q = (request.query_params.get("q") or "").strip()
        if not q:
            return pages.render(
                "search.html",
                400,
                who=who.who,
                title="Find deliveries",
                q="",
                error="Enter a user id or a transaction id.",
            )
        try:
            as_user, as_tx = await asyncio.gather(
                run(client, QueryKind.USER, {"user_id": [q], "limit": ["1"]}),
                run(client, QueryKind.TX, {"transaction_id": [q], "limit": ["1"]}),
            )
        except Problem as problem:
            audit(who, "search", q, f"problem {problem.status}")
            if problem.status == 400:
                return pages.render(
                    "search.html",
                    400,
                    who=who.who,
                    title="Find deliveries",
                    q=q,
                    error="That is not an id this service knows: ids are 1-128 letters, "
                    "digits and _ . : @ - (no spaces).",
                )
            return problem_page(who, problem)
        found = [
            kind for kind, result in (("user", as_user), ("transaction", as_tx)) if result.records
        ]
        audit(who, "search", q, "found " + (" and ".join(found) or "nothing"))
        if len(found) == 1:
            view = "users" if found[0] == "user" else "transactions"
            return pages.redirect(f"/console/{view}/{quote(q, safe='')}?via=search")
        return pages.render(
            "search.html",
            200 if found else 404,
            who=who.who,
            title="Find deliveries",
            q=q,
            found=found,
        )

    async def list_page(
        request: Request,
        who: Identity,
        client: InternalApiClient,
        lookup: str,
        target: str,
        beside: Awaitable[dict[str, Any]] | None = None,
        **context: Any,
    ) -> Response:
        """A user's or a transaction's deliveries: the same filters, paging and messages.
        ``beside``: more of the page's context, fetched at the same time as the records."""
        kind, key, view = LIST_VIEWS[lookup]
        filters = Filters.from_request(request)
        here = f"/console/{view}/{quote(target, safe='')}"
        params = {key: [target], **filters.query_params(with_window=kind is QueryKind.USER)}
        try:
            if beside is None:
                result = await run(client, kind, params)
            else:
                result, more = await asyncio.gather(run(client, kind, params), beside)
                context.update(more)
        except Problem as problem:
            audit(who, lookup, target, f"problem {problem.status}", filters=filters.described())
            again = here if filters.active or filters.cursor else None
            return problem_page(who, problem, back=again)
        audit(who, lookup, target, f"{len(result.records)} records", filters=filters.described())
        return pages.render(
            f"{lookup}.html",
            who=who.who,
            here=here,
            filters=filters,
            records=result.records,
            more=more_link(request, result.next_cursor),
            via_search=request.query_params.get("via") == "search",
            statuses=STATUSES,
            platforms=PLATFORMS,
            **context,
        )

    @router.get("/users/{user_id}")
    async def user_deliveries(
        request: Request, user_id: str, who: Who, client: InternalClient
    ) -> Response:
        return await list_page(
            request,
            who,
            client,
            "user",
            user_id,
            title=f"Deliveries to {user_id}",
            user_id=user_id,
            windows=WINDOWS,
        )

    async def funnel_of(client: InternalApiClient, transaction_id: str) -> dict[str, Any]:
        """The transaction's funnel (/query/stats), or why the page shows none: a page of
        deliveries is still worth showing when the statistics cannot be had."""
        try:
            result = await run(client, QueryKind.STATS, {"transaction_id": [transaction_id]})
        except Problem as problem:
            return {"funnel": None, "funnel_problem": problem_lines(problem)[0]}
        return {"funnel": result.stats, "funnel_problem": None}

    @router.get("/transactions/{transaction_id}")
    async def transaction(
        request: Request, transaction_id: str, who: Who, client: InternalClient
    ) -> Response:
        return await list_page(
            request,
            who,
            client,
            "transaction",
            transaction_id,
            beside=funnel_of(client, transaction_id),
            title=f"Transaction {transaction_id}",
            transaction_id=transaction_id,
        )

    @router.get("/deliveries/{transaction_id}/{user_id}")
    async def delivery(
        request: Request, transaction_id: str, user_id: str, who: Who, client: InternalClient
    ) -> Response:
        target = f"{transaction_id}/{user_id}"
        try:
            kind = QueryKind("delivery")
        except ValueError:
            audit(who, "delivery", target, "not served")
            return message(
                who,
                501,
                "Delivery details are not available yet",
                "This service does not serve the delivery query (/query/delivery) yet.",
            )
        try:
            result = await run(
                client, kind, {"transaction_id": [transaction_id], "user_id": [user_id]}
            )
        except Problem as problem:
            audit(who, "delivery", target, f"problem {problem.status}")
            return problem_page(who, problem)
        audit(who, "delivery", target, f"{len(result.records)} records")
        if not result.records:
            return message(
                who, 404, "No such delivery", f"No delivery of {transaction_id} to {user_id}."
            )
        record = result.records[0]
        return pages.render(
            "delivery.html",
            who=who.who,
            title=f"Delivery of {transaction_id} to {user_id}",
            delivery=record,
            fields=[name for name in record if name not in TIMELINE_FIELDS],
        )

    @router.get("/static/{name}")
    async def static(request: Request, name: str, who: Who) -> Response:
        return pages.asset(name, request.headers.get("if-none-match"))

    @router.get("/{rest:path}")
    async def not_a_page(rest: str, who: Who) -> Response:
        return message(who, 404, *NOT_A_PAGE)

    return router

"""``/feedback``: the event made durable in the journal first, then applied and logged.

``FeedbackHandling`` is a part of ``RecommendationService`` (it uses the service's store,
router, policies, local cache, metrics and RR log): ``submit_feedback`` hands the event to the
journal, ``complete_feedback`` applies it once durable; ``feedback`` does both, blocking.
"""

from __future__ import annotations

import random
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from nbrec.events.journal import wait_durable
from nbrec.events.schema import make_event
from nbrec.rrlog.schema import feedback_line
from nbrec.serving.routing import Route
from nbrec.serving.schemas import FeedbackRequest
from nbrec.store import StoreError


def new_request_id() -> str:
    # 128 random bits as hex, like uuid4().hex without a getrandom() syscall per request;
    # request ids need uniqueness, not unpredictability.
    return f"{random.getrandbits(128):032x}"


@dataclass
class FeedbackTicket:
    """A /feedback event handed to the journal, waiting to be durable."""

    req: FeedbackRequest
    request_id: str
    route: Route
    version: str | None
    event: dict[str, Any]
    future: Future | None


class FeedbackHandling:
    """The /feedback part of ``RecommendationService``."""

    def submit_feedback(
        self, req: FeedbackRequest, request_id: str | None = None
    ) -> FeedbackTicket:
        """Route the event and hand it to the journal; the ticket's future says when it is
        durable (None without a journal). Raises ``JournalUnavailable`` (HTTP 503) when the
        journal refuses it at once (backlog full, closed)."""
        request_id = req.request_id or request_id or new_request_id()
        route = self.router.route(req.user_id)
        version = route.model_version or self.live_version
        event = make_event(
            req.user_id, req.item_id, req.event, req.value, event_id=req.event_id,
            request_id=request_id, model_version=version, experiment=route.experiment,
            variant=route.variant,
        )  # fmt: skip
        future = self.journal.submit(event) if self.journal is not None else None
        return FeedbackTicket(req, request_id, route, version, event, future)

    def complete_feedback(self, ticket: FeedbackTicket) -> dict[str, Any]:
        """The event is durable (or there is no journal): apply it and answer.

        The item leaves the user's next answers; for a user in a policy variant the event
        also goes to the policy (a click is a reward in the store's counters, shared by every
        worker); the answer's ``rewarded`` says whether it counted (policy variants only).
        Side effects come after durability, so a refused (503) event changes nothing.
        """
        req, route, version = ticket.req, ticket.route, ticket.version
        stored = True
        try:
            self._store_call("add_seen", self.store.add_seen, req.user_id, req.item_id)
        except StoreError:
            stored = False  # the RR log line below still records the event
            self._local.add_seen(req.user_id, req.item_id)  # left out here while it is down
        policy = self.policy_for(route)
        rewarded = None
        if policy is not None:
            try:
                rewarded = policy.feedback(req.item_id, req.event)
            except StoreError:
                rewarded = stored = False
        m = self.metrics
        m.child(m.feedback, req.event, version or "none", route.variant or "none").inc()
        event_id = ticket.event["event_id"]
        if self.rr_log is not None:
            self.rr_log.log(feedback_line(
                ticket.request_id, req.user_id, version, route.experiment, route.variant,
                req.item_id, req.event, req.value, event_id=event_id,
            ))  # fmt: skip
        answer = {
            "request_id": ticket.request_id,
            "model_version": version,
            "accepted": True,
            "stored": stored,
            "event_id": event_id,
            "durable": ticket.future is not None,
        }
        if rewarded is not None:
            answer["rewarded"] = rewarded
        return answer

    def feedback(self, req: FeedbackRequest, request_id: str | None = None) -> dict[str, Any]:
        """Make the event durable (waiting at most ``journal_timeout``), then apply it.

        The request id is the one the client sent (its recommendation's), else ``request_id``,
        else a new one. The HTTP layer does the same without blocking its event loop.
        """
        ticket = self.submit_feedback(req, request_id)
        if ticket.future is not None:
            wait_durable(ticket.future, self.journal_timeout)
        return self.complete_feedback(ticket)

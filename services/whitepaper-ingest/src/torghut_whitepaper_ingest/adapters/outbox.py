"""Run lifecycle events leave through the runtime's outbox: committed with their status change, then relayed.

Every event row (``whitepaper_run_events``) is written in the transaction that changes its run and
stays unpublished (``published_at`` unset) until the broker acknowledged it. The relay runs when
woken (intake committed, a group of step outcomes was recorded), after an HTTP request's commit
(``flush_quietly``), and at least every sweep interval for what a broker hiccup left behind. Events
go out oldest first, each run's on one partition in its order; the Kafka message id derives from the
event id, so a second publish of the same row is recognised downstream as the same message.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders, derived_message_id
from torghut_contracts.models import WhitepaperRunEvent
from torghut_runtime.outbox import OutboxMessage, OutboxTable

from .run_store import run_events

RUN_EVENTS_OUTBOX = OutboxTable(
    "whitepaper-run-events", run_events, key=run_events.c.event_id,
    order_by=(run_events.c.occurred_at, run_events.c.run_id, run_events.c.seq),
    pending=run_events.c.published_at.is_(None), published_at=run_events.c.published_at)


def run_event_message(row: sa.Row[Any]) -> OutboxMessage:
    """One message id per event id; the run id correlates every event of a run."""
    event = WhitepaperRunEvent.model_validate(row.payload)
    headers = MessageHeaders.new(topics.WHITEPAPER_RUNS.name,
                                 message_id=derived_message_id("whitepaper-run-event", event.event_id),
                                 correlation_id=event.run_id)
    return OutboxMessage.of(topics.WHITEPAPER_RUNS, event, headers)

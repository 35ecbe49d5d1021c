"""The trade-update outbox: updates stored by the order feed, published to ``torghut.trade-updates.v1``.

An update is stored (``execution_events.payload``) in the transaction that applies its event, and
the runtime's outbox relay publishes it afterwards, so an event committed always reaches Kafka, at
least once, with a message id derived from its fingerprint (``trade_update_message_id``) that
consumers deduplicate on. The rows are ``adapters.trade_update_outbox.TRADE_UPDATES_OUTBOX``; here is how one becomes
a message.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_runtime.outbox import OutboxMessage

from .domain.trade_update import trade_update_message_id


def trade_update_message(row: sa.Row[Any]) -> OutboxMessage:
    """The stored update, under its fingerprint's message id, continuing the trace of the order."""
    update = topics.TRADE_UPDATES.decode(row.payload)
    headers = MessageHeaders.new(topics.TRADE_UPDATES.name, message_id=trade_update_message_id(row.fingerprint),
                                 correlation_id=row.correlation_id)
    return OutboxMessage.of(topics.TRADE_UPDATES, update, headers, traceparent=row.traceparent)

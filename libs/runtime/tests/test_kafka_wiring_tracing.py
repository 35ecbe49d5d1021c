"""One trace id and one correlation id survive two hops through the real Tansu broker, each hop
caused by the message before it."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import StrategyTrigger, TaSignal
from torghut_runtime import Inbound, Outgoing
from torghut_runtime.testing import produce, read_records

from .conftest import HOP_OUT, make_runtime, signal, trigger_for


async def test_one_trace_and_one_correlation_id_survive_two_hops(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, mode: dict[str, int]) -> None:
    exporter = InMemorySpanExporter()
    first = make_runtime(kafka_bootstrap, fresh_database_url, prefix, name="hop-one", exporter=exporter)
    second = make_runtime(kafka_bootstrap, fresh_database_url, prefix, name="hop-two", exporter=exporter,
                          db_schema="hop_two")

    async def hop_one(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload))]

    async def hop_two(inbound: Inbound[StrategyTrigger], conn: AsyncConnection) -> list[Outgoing]:
        return [Outgoing(HOP_OUT, inbound.payload)]

    first.consume(topics.TA_SIGNALS, hop_one, **mode)
    second.consume(topics.TRIGGERS, hop_two, **mode)
    origin = MessageHeaders.new(topics.TA_SIGNALS.name, correlation_id="corr-chain-1")
    async with first.running(), second.running():
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(9), key="AAPL",
                      headers={**origin.as_dict(), h.TRACEPARENT: traceparent})
        middle = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=1)
        final = await read_records(kafka_bootstrap, prefix + HOP_OUT.name, expect=1)

    trace_id = traceparent.split("-")[1]
    for record in (middle[0], final[0]):
        assert record.headers[h.TRACEPARENT].split("-")[1] == trace_id
        assert record.headers[h.CORRELATION_ID] == "corr-chain-1"
    assert final[0].headers[h.CAUSATION_ID] == middle[0].headers[h.MESSAGE_ID]
    assert middle[0].headers[h.CAUSATION_ID] == origin.message_id
    # FastStream gives each fetch a span of its own (its own trace); each message's processing
    # span, and the publishing spans under it, continue the message's trace.
    processing = [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "torghut.kafka"]
    assert len(processing) == 2
    assert {format(s.context.trace_id, "032x") for s in processing} == {trace_id}

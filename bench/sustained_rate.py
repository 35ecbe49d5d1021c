"""The pipeline bench's sustained-rate phase: signals offered at a rising rate, consumer groups watched.

A step is sustained when every group that reads ``torghut.ta.signals.v1`` consumed at least 90 % of
what was offered during it and had caught up again within a second after it (:mod:`bench.pipeline`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders

from .pipeline_signals import RATE_SYMBOLS, SESSION_OPEN, make_signal
from .pipeline_stack import Pipeline

#: The consumer groups reading TA signals. The runtime names a service's group
#: <TOPIC_PREFIX><service>.records, or <service>.<topic> when it reads one topic.
SIGNAL_GROUPS = (f"signal-trigger.{topics.TA_SIGNALS.name}", "risk-firewall.records", "execution-router.records")
DEFAULT_RATES = (10, 25, 50, 100, 200, 400, 800, 1600)


async def sustained_rate(pipeline: Pipeline, rates: list[int], step_s: float) -> dict[str, Any]:
    lag = LagProbe(pipeline.bootstrap, pipeline.topic(topics.TA_SIGNALS), [pipeline.prefix + g for g in SIGNAL_GROUPS])
    await lag.start()
    steps: list[dict[str, Any]] = []
    seqs = dict.fromkeys(RATE_SYMBOLS, 0)
    at = SESSION_OPEN + timedelta(hours=1)
    sustained = 0
    try:
        for rate in rates:
            before, cpu_before, started = await lag.committed(), pipeline.cpu(), time.perf_counter()
            produced, at = await _offer(pipeline, rate, step_s, seqs, at)
            after, cpu_after, elapsed = await lag.committed(), pipeline.cpu(), time.perf_counter() - started
            end_lag = await lag.lags()
            drained_s = await lag.drained_within(3.0)
            consumed = {g: (after[g] - before[g]) / step_s for g in after}
            ok = (drained_s is not None and drained_s <= 1.0
                  and all(v >= 0.9 * produced / step_s for v in consumed.values()))
            steps.append({"offered_per_s": rate, "produced_per_s": round(produced / step_s, 1),
                          "consumed_per_s": {_service_of(pipeline.prefix, g): round(v, 1) for g, v in consumed.items()},
                          "lag_at_end": {_service_of(pipeline.prefix, g): v for g, v in end_lag.items()},
                          "drained_after_s": None if drained_s is None else round(drained_s, 2),
                          "cpu_pct": {n: round((cpu_after[n] - cpu_before[n]) / elapsed * 100)
                                      for n in cpu_before},
                          "cpu_ms_per_signal_above_idle": {
                              n: round(((cpu_after[n] - cpu_before[n]) / elapsed - pipeline.idle_pct.get(n, 0) / 100)
                                       * 1000 / rate, 2) for n in cpu_before},
                          "sustained": ok})
            if not ok:
                break
            sustained = rate
        if steps and not steps[-1]["sustained"]:
            await lag.drained_within(30.0)  # let the backlog go before RSS is read
    finally:
        await lag.stop()
    return {"sustained_signals_per_s": sustained, "step_s": step_s, "steps": steps}


def _service_of(prefix: str, group: str) -> str:
    return group[len(prefix):].split(".")[0]


async def _offer(pipeline: Pipeline, rate: int, step_s: float, seqs: dict[str, int],
                 at: datetime) -> tuple[int, datetime]:
    """Produce ``rate`` signals a second for ``step_s`` seconds, paced every 20 ms; MACD flips every 10 bars."""
    assert pipeline.producer is not None
    tick = 0.02
    total = int(rate * step_s)
    started = time.perf_counter()
    sent = 0
    futures = []
    while sent < total:
        due = min(total, int((time.perf_counter() - started) / step_s * total) + 1)
        while sent < due:
            symbol = RATE_SYMBOLS[sent % len(RATE_SYMBOLS)]
            seqs[symbol] += 1
            seq = seqs[symbol]
            if sent % len(RATE_SYMBOLS) == 0:
                at += timedelta(seconds=1)
            signal = make_signal(symbol, at, seq, bullish=(seq // 10) % 2 == 1, price=Decimal(50))
            futures.append(await pipeline.producer.send(
                pipeline.topic(topics.TA_SIGNALS), signal.model_dump_json().encode(), key=symbol.encode(),
                headers=MessageHeaders.new(topics.TA_SIGNALS.name).as_kafka()))
            sent += 1
        await asyncio.sleep(tick)
    await asyncio.gather(*futures)
    return sent, at


class LagProbe:
    """Committed offsets of consumer groups on one topic (OffsetFetch, as ``consumer.committed``)."""

    def __init__(self, bootstrap: str, topic: str, groups: list[str]) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.groups = groups
        self._consumers: dict[str, AIOKafkaConsumer] = {}
        self._tps: list[TopicPartition] = []

    async def start(self) -> None:
        for group in self.groups:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False)
            await consumer.start()
            self._consumers[group] = consumer
        first = self._consumers[self.groups[0]]
        partitions = first.partitions_for_topic(self.topic)
        if not partitions:
            await first.force_metadata_update()  # type: ignore[attr-defined]
            partitions = first.partitions_for_topic(self.topic) or set()
        self._tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]

    async def committed(self) -> dict[str, int]:
        out = {}
        for group, consumer in self._consumers.items():
            out[group] = sum([(await consumer.committed(tp)) or 0 for tp in self._tps])
        return out

    async def lags(self) -> dict[str, int]:
        consumer = self._consumers[self.groups[0]]
        ends = await consumer.end_offsets(self._tps)
        end = sum(ends.values())
        return {g: end - c for g, c in (await self.committed()).items()}

    async def drained_within(self, timeout_s: float) -> float | None:
        """Seconds until every group has committed up to the end, or None if not within ``timeout_s``."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout_s:
            # <= 0: at high rates Tansu's ListOffsets can report an end a few records short of what the
            # groups already committed (seen at 400 signals/s); a group past the end has nothing left.
            if all(v <= 0 for v in (await self.lags()).values()):
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
        return None

    async def stop(self) -> None:
        for consumer in self._consumers.values():
            await consumer.stop()

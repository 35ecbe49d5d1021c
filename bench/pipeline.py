"""The real pipeline, signal to fill, every service its own OS process, as ``torghut demo`` runs it.

decision-engine (deterministic skills, no LM), execution-router (built-in paper venue),
risk-firewall, decision-client and signal-trigger are started with the demo's replay settings
(:data:`torghut_cli.demo.runner.REPLAY_ENV`: event-time clocks for a recorded 2026-02-12 session) on
their own topic prefix and database. The kill switch is turned off with a control command, as an
operator would, and then:

* **latency**: one MACD cross at a time. For every symbol the bench alternates the MACD above and
  below its signal line, so every signal after the first completes a cross (a buy, then a sell
  that closes it). The clock starts when the completing signal is produced and stops when the
  observer reads the ``fill`` trade update whose ``x-correlation-id`` is the trigger's request id,
  so no two samples can be confused. The intermediate topics are read too, which splits each
  sample into its stages. Before the next cross the bench waits (untimed) for the account
  snapshot that follows the fill and then 0.2 s for its consumers to apply it, so the sell sees
  the position it closes and each sample starts on a quiet pipeline, as a bare-chain sample does.
* **decision path**: copies of a real trigger produced at once onto ``torghut.triggers.v1``;
  decisions per second through decision-client and decision-engine.
* **sustained rate**: signals are offered at a rising rate, a few seconds per step, and the
  consumer groups that read ``torghut.ta.signals.v1`` (signal-trigger, risk-firewall and
  execution-router) are watched. A step is sustained when every group consumed at least 90 % of
  what was offered during it and had caught up again within a second after it; the figure is the
  highest sustained step.
* **peak RSS** of every service process (``VmHWM``), read at the end, and **idle CPU** (each
  process, the broker and Postgres, a few seconds with nothing to do).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from torghut_cli.demo.processes import ServiceProcess
from torghut_cli.demo.runner import service_plan
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.enums import TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GLOBAL_SCOPE, ControlCommand, StrategyTrigger, TaSignal
from torghut_embedded.kafka import TopicSpec, create_topics, delete_topics
from torghut_embedded.postgres import create_database, drop_database

from .observe import Observer
from .procfs import cpu_seconds, cpu_seconds_tree, peak_rss_mb
from .scrape import mean_ms, snapshot
from .stats import latency_summary

SESSION_OPEN = datetime(2026, 2, 12, 14, 30, tzinfo=UTC)  # 09:30 New York, the demo dataset's day
#: Ten tickers for the latency samples, a buy then its sell 20 s of event time apart, symbol after
#: symbol: a symbol's next buy comes 400 s later, past the strategy's 300 s and the firewall's 60 s
#: cooldowns, and only one position is open at a time (inside the default exposure limits).
LATENCY_SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOG", "TSLA", "AMD", "NFLX", "AVGO")
LATENCY_STEP = timedelta(seconds=20)
#: Untimed pause after the snapshot that follows a fill, before the next sample (see ``latency``).
QUIET_BETWEEN_SAMPLES_S = 0.2
#: Different tickers for the rate steps, so they never disturb a latency sample's position.
RATE_SYMBOLS = ("ORCL", "CRM", "ADBE", "INTC", "QCOM", "TXN", "IBM", "CSCO", "PEP", "KO",
                "WMT", "COST", "JPM", "BAC", "XOM", "CVX", "UNH", "PFE", "DIS", "NKE")
STAGES = (topics.TRIGGERS, topics.DECISIONS, topics.ORDERS_APPROVED, topics.TRADE_UPDATES)
#: The consumer groups reading TA signals. The runtime names a service's group
#: <TOPIC_PREFIX><service>.records, or <service>.<topic> when it reads one topic.
SIGNAL_GROUPS = (f"signal-trigger.{topics.TA_SIGNALS.name}", "risk-firewall.records", "execution-router.records")
DEFAULT_RATES = (10, 25, 50, 100, 200, 400, 800, 1600)


def make_signal(symbol: str, at: datetime, seq: int, *, bullish: bool, price: Decimal = Decimal(100)) -> TaSignal:
    """A one-minute bar with a tight quote and RSI 55: MACD 0.12 above or 0.10 below its signal line."""
    return TaSignal(symbol=symbol, event_ts=at, seq=seq, price=price,
                    macd=Decimal("0.12") if bullish else Decimal("-0.10"), macd_signal=Decimal(0),
                    rsi14=Decimal(55), bid=price - Decimal("0.01"), ask=price + Decimal("0.01"),
                    spread_bps=Decimal(2), volume=Decimal(50_000), window="PT1M")


@dataclass
class StageIndex:
    """Indexes the observed stages by correlation id, and triggers by ``symbol|seq``."""

    prefix: str
    request_ids: dict[str, str] = field(default_factory=dict)
    last_trigger: bytes | None = None

    def __call__(self, topic: str, headers: dict[str, str], value: bytes) -> str | None:
        name = topic[len(self.prefix):]
        correlation = headers.get(h.CORRELATION_ID)
        if name == topics.TRIGGERS.name:
            body = json.loads(value)
            self.request_ids[f"{body['symbol']}|{body['signal_seq']}"] = body["request_id"]
            self.last_trigger = value
        elif name == topics.TRADE_UPDATES.name:
            if json.loads(value).get("event") != "fill":
                return None
        return correlation


@dataclass
class Pipeline:
    """The five services as processes on their own topic prefix and database, and what the bench sends."""

    bootstrap: str
    admin_url: str
    log_dir: Path
    fetch_max_wait_ms: int = 20
    prefix: str = field(default_factory=lambda: f"pipe{uuid.uuid4().hex[:6]}.")
    database: str = field(default_factory=lambda: f"bench_pipe_{uuid.uuid4().hex[:8]}")
    services: list[ServiceProcess] = field(default_factory=list)
    producer: AIOKafkaProducer | None = None
    startup_s: float = 0.0
    template_trigger: StrategyTrigger | None = None
    idle_pct: dict[str, float] = field(default_factory=dict)
    infra: dict[str, int] = field(default_factory=dict)
    """``{"kafka": pid, "postgres": pid}`` of the embedded stack, for CPU accounting."""
    env: dict[str, str] = field(default_factory=dict)
    """Settings for every service on top of the demo's (the burst raises the firewall's rate limits)."""

    def topic(self, spec: topics.TopicSpec[Any]) -> str:
        return self.prefix + spec.name

    def topic_specs(self) -> list[TopicSpec]:
        specs = []
        for spec in topics.ALL_TOPICS:
            specs.append(TopicSpec(self.topic(spec), spec.partitions, spec.config))
            specs.append(TopicSpec(self.topic(spec) + topics.DLQ_SUFFIX, spec.partitions, spec.dlq.config))
        return specs

    async def start(self) -> None:
        started = time.perf_counter()
        await create_topics(self.bootstrap, self.topic_specs(), include_dlq=False)
        database_url = await create_database(self.admin_url, self.database)
        env = {"TOPIC_PREFIX": self.prefix, "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200",
               "KAFKA_FETCH_MAX_WAIT_MS": str(self.fetch_max_wait_ms), **self.env}
        self.services = service_plan(self.bootstrap, database_url, self.log_dir, env)
        for service in self.services:
            service.start()
        for service in self.services:
            service.wait_ready(timeout_s=120)
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=False)
        await self.producer.start()
        command = ControlCommand(command_id=f"bench-open-{uuid.uuid4().hex[:8]}", scope=GLOBAL_SCOPE,
                                 kill_switch=False, trading_state=TradingState.ACTIVE, reason="bench",
                                 issued_at=datetime.now(UTC))
        await self.send(topics.CONTROL, command, GLOBAL_SCOPE)
        self.startup_s = time.perf_counter() - started

    async def send(self, spec: topics.TopicSpec[Any], message: Any, key: str, *, wait: bool = True) -> None:
        assert self.producer is not None
        headers = MessageHeaders.new(spec.name).as_kafka()
        future = await self.producer.send(self.topic(spec), spec.encode(message), key=key.encode(), headers=headers)
        if wait:
            await future

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
        for service in reversed(self.services):
            service.stop(grace_s=10)
        try:
            await delete_topics(self.bootstrap, [s.name for s in self.topic_specs()])
        finally:
            await drop_database(self.admin_url, self.database)

    # -- latency -----------------------------------------------------------------------------------
    async def latency(self, samples: int, warmup: int, timeout_s: float = 15.0) -> dict[str, Any]:
        """Signal -> fill latency, one cross at a time: a buy, then the sell that closes it, symbol after symbol.

        One position open at a time keeps every order inside the default risk limits (net exposure,
        cash), so each sample is a full chain ending in a fill; event time moves 20 s per sample.
        """
        index = StageIndex(self.prefix)
        snapshots = self.topic(topics.ACCOUNT_SNAPSHOTS)
        observer = Observer(self.bootstrap, [self.topic(s) for s in (*STAGES, topics.RISK_VERDICTS,
                                                                     topics.ACCOUNT_SNAPSHOTS)], index,
                            fetch_max_wait_ms=self.fetch_max_wait_ms)
        totals: list[float] = []
        stages: dict[str, list[float]] = {s.name: [] for s in STAGES}
        missing: list[str] = []
        seqs = dict.fromkeys(LATENCY_SYMBOLS, 1)
        async with observer:
            at = SESSION_OPEN + timedelta(minutes=5)
            for symbol in LATENCY_SYMBOLS:  # the first signal of each: below the line, nothing to cross yet
                await self.send(topics.TA_SIGNALS, make_signal(symbol, at, 1, bullish=False), symbol)
                at += LATENCY_STEP
            await asyncio.sleep(1.0)
            for i in range(warmup + samples):
                symbol = LATENCY_SYMBOLS[(i // 2) % len(LATENCY_SYMBOLS)]
                seqs[symbol] += 1
                seq = seqs[symbol]
                at += LATENCY_STEP
                signal = make_signal(symbol, at, seq, bullish=i % 2 == 0)  # even: cross up (buy); odd: down (sell)
                started = time.perf_counter()
                await self.send(topics.TA_SIGNALS, signal, symbol, wait=False)
                request_id = await self._request_id(observer, index, f"{symbol}|{seq}", timeout_s)
                filled = None if request_id is None else await observer.wait_for(
                    self.topic(topics.TRADE_UPDATES), request_id, timeout_s)
                if filled is None:
                    why = "no trigger" if request_id is None else self._why(observer, request_id)
                    missing.append(f"{symbol}#{seq}: {why}")
                    continue
                # The next cross (the sell) must see the position: wait, untimed, for the account
                # snapshot the router publishes after a fill to reach the decision-client's topic.
                await observer.wait_until(functools.partial(observer.seen_since, snapshots, filled), 5.0)
                # Then let its consumers (risk-firewall, decision-client) apply it: the sell needs the
                # position, and each sample starts on a quiet pipeline as each bare-chain sample does.
                await asyncio.sleep(QUIET_BETWEEN_SAMPLES_S)
                if i < warmup:
                    continue
                assert request_id is not None
                totals.append((filled - started) * 1000)
                previous = started
                for spec in STAGES:
                    arrived = observer.arrivals.get((self.topic(spec), request_id), previous)
                    stages[spec.name].append((arrived - previous) * 1000)
                    previous = arrived
        if index.last_trigger is not None:
            self.template_trigger = topics.TRIGGERS.decode(index.last_trigger)
        return {"signal_to_fill": latency_summary(totals), "samples_requested": samples, "warmup": warmup,
                "missing": missing,
                "stages": {name: latency_summary(values) for name, values in stages.items()}}

    @staticmethod
    async def _request_id(observer: Observer, index: StageIndex, key: str, timeout_s: float) -> str | None:
        """The request id of the trigger fired by signal ``symbol|seq``, once the observer has seen it."""
        if await observer.wait_until(lambda: key in index.request_ids, timeout_s):
            return index.request_ids[key]
        return None

    def _why(self, observer: Observer, request_id: str) -> str:
        for topic, headers, value, _ in reversed(observer.records):
            if headers.get(h.CORRELATION_ID) != request_id:
                continue
            body = json.loads(value)
            return f"last {topic[len(self.prefix):]} {body.get('outcome') or body.get('event') or ''} " \
                   f"{body.get('reason_codes') or (body.get('intent') or {}).get('action') or ''}"
        return "trigger only"

    # -- the decision path alone -------------------------------------------------------------------
    async def decision_burst(self, count: int, timeout_s: float = 120.0) -> dict[str, Any]:
        """Decisions per second when ``count`` triggers arrive at once (decision-client + decision-engine).

        The triggers are copies of one the signal-trigger emitted in the latency phase, each with its
        own request id and symbol, produced straight onto ``torghut.triggers.v1``.
        """
        template = self.template_trigger
        if template is None:
            return {"error": "no trigger was observed to copy"}
        observer = Observer(self.bootstrap, [self.topic(topics.DECISIONS)],
                            lambda _t, headers, _v: headers.get(h.CORRELATION_ID),
                            fetch_max_wait_ms=self.fetch_max_wait_ms)
        wanted: list[str] = []
        done: list[float] = []
        assert self.producer is not None
        async with observer:
            for i in range(count):
                symbol = RATE_SYMBOLS[i % len(RATE_SYMBOLS)]
                request_id = hashlib.sha256(f"bench-burst-{self.prefix}-{i}".encode()).hexdigest()
                trigger = template.model_copy(update={"request_id": request_id, "symbol": symbol})
                wanted.append(request_id)
                await self.producer.send(self.topic(topics.TRIGGERS), topics.TRIGGERS.encode(trigger),
                                         key=symbol.encode(),
                                         headers=MessageHeaders.new(topics.TRIGGERS.name,
                                                                    correlation_id=request_id).as_kafka())
            await self.producer.flush()
            started = time.perf_counter()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                arrived = [observer.arrivals.get((self.topic(topics.DECISIONS), r)) for r in wanted]
                done = [a for a in arrived if a is not None]
                if len(done) == count:
                    break
                await asyncio.sleep(0.02)
        if len(done) < 2:
            return {"triggers": count, "decided": len(done)}
        first, last = min(done), max(done)
        return {"triggers": count, "decided": len(done),
                "decisions_per_s": round((len(done) - 1) / max(last - first, 1e-9), 1),
                "all_within_s": round(last - started, 2)}

    # -- sustained rate ----------------------------------------------------------------------------
    async def sustained_rate(self, rates: list[int], step_s: float) -> dict[str, Any]:
        lag = LagProbe(self.bootstrap, self.topic(topics.TA_SIGNALS), [self.prefix + g for g in SIGNAL_GROUPS])
        await lag.start()
        steps: list[dict[str, Any]] = []
        seqs = dict.fromkeys(RATE_SYMBOLS, 0)
        at = SESSION_OPEN + timedelta(hours=1)
        sustained = 0
        try:
            for rate in rates:
                before, cpu_before, started = await lag.committed(), self.cpu(), time.perf_counter()
                produced, at = await self._offer(rate, step_s, seqs, at)
                after, cpu_after, elapsed = await lag.committed(), self.cpu(), time.perf_counter() - started
                end_lag = await lag.lags()
                drained_s = await lag.drained_within(3.0)
                consumed = {g: (after[g] - before[g]) / step_s for g in after}
                ok = (drained_s is not None and drained_s <= 1.0
                      and all(v >= 0.9 * produced / step_s for v in consumed.values()))
                steps.append({"offered_per_s": rate, "produced_per_s": round(produced / step_s, 1),
                              "consumed_per_s": {self._service_of(g): round(v, 1) for g, v in consumed.items()},
                              "lag_at_end": {self._service_of(g): v for g, v in end_lag.items()},
                              "drained_after_s": None if drained_s is None else round(drained_s, 2),
                              "cpu_pct": {n: round((cpu_after[n] - cpu_before[n]) / elapsed * 100)
                                          for n in cpu_before},
                              "cpu_ms_per_signal_above_idle": {
                                  n: round(((cpu_after[n] - cpu_before[n]) / elapsed - self.idle_pct.get(n, 0) / 100)
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

    def _service_of(self, group: str) -> str:
        return group[len(self.prefix):].split(".")[0]

    async def _offer(self, rate: int, step_s: float, seqs: dict[str, int], at: datetime) -> tuple[int, datetime]:
        """Produce ``rate`` signals a second for ``step_s`` seconds, paced every 20 ms; MACD flips every 10 bars."""
        assert self.producer is not None
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
                futures.append(await self.producer.send(
                    self.topic(topics.TA_SIGNALS), signal.model_dump_json().encode(), key=symbol.encode(),
                    headers=MessageHeaders.new(topics.TA_SIGNALS.name).as_kafka()))
                sent += 1
            await asyncio.sleep(tick)
        await asyncio.gather(*futures)
        return sent, at

    async def idle_cpu(self, seconds: float) -> dict[str, float]:
        """Per cent of one core each service burns doing nothing (polling fetches, heartbeats, timers)."""
        before, started = self.cpu(), time.perf_counter()
        await asyncio.sleep(seconds)
        after, elapsed = self.cpu(), time.perf_counter() - started
        self.idle_pct = {name: round((after[name] - before[name]) / elapsed * 100, 1) for name in before}
        return self.idle_pct

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each service process, the broker, Postgres and this process."""
        out = {s.name: cpu_seconds(s.process.pid) or 0.0 for s in self.services if s.process is not None}
        for name, pid in self.infra.items():
            out[name] = cpu_seconds_tree(pid) or 0.0
        out["bench"] = time.process_time()
        return out

    def peak_rss(self) -> dict[str, float | None]:
        return {s.name: peak_rss_mb(s.process.pid) if s.process is not None else None for s in self.services}


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


async def run_pipeline(bootstrap: str, admin_url: str, log_dir: Path, *, infra: dict[str, int] | None = None,
                       samples: int = 60, warmup: int = 4,
                       rates: list[int] | None = None, step_s: float = 4.0, idle_s: float = 3.0, burst: int = 60,
                       fetch_max_wait_ms: int = 20) -> dict[str, Any]:
    pipeline = Pipeline(bootstrap, admin_url, log_dir, fetch_max_wait_ms=fetch_max_wait_ms, infra=dict(infra or {}))
    try:
        await pipeline.start()
        figures: dict[str, Any] = {"startup_s": round(pipeline.startup_s, 1), "fetch_max_wait_ms": fetch_max_wait_ms,
                                   "log_dir": str(log_dir)}
        idle = figures["idle_cpu_pct"] = await pipeline.idle_cpu(idle_s)
        endpoints = [(s.name, s.url) for s in pipeline.services]
        metrics_before, cpu_before, started = await snapshot(endpoints), pipeline.cpu(), time.perf_counter()
        figures["latency"] = await pipeline.latency(samples, warmup)
        cpu_after, elapsed = pipeline.cpu(), time.perf_counter() - started
        figures["latency"]["inside_services"] = mean_ms(metrics_before, await snapshot(endpoints))
        crosses = samples + warmup
        figures["latency"]["cpu_ms_per_cross_above_idle"] = {
            name: round(((cpu_after[name] - cpu_before[name]) - idle[name] / 100 * elapsed) * 1000 / crosses, 1)
            for name in cpu_before}
        figures["decision_burst"] = await pipeline.decision_burst(burst)
        figures["rate"] = await pipeline.sustained_rate(rates or list(DEFAULT_RATES), step_s)
        figures["peak_rss_mb"] = pipeline.peak_rss()
        return figures
    finally:
        await pipeline.stop()

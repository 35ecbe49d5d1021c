"""The pipeline bench's latency phase: signal -> fill, one MACD cross at a time, split into its stages.

How a sample is timed, and why the bench waits between samples, is told in :mod:`bench.pipeline`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from torghut_contracts import headers as h
from torghut_contracts import topics

from .observe import Observer
from .pipeline_signals import SESSION_OPEN, make_signal
from .pipeline_stack import Pipeline
from .stats import latency_summary

#: Ten tickers for the latency samples, a buy then its sell 20 s of event time apart, symbol after
#: symbol: a symbol's next buy comes 400 s later, past the strategy's 300 s and the firewall's 60 s
#: cooldowns, and only one position is open at a time (inside the default exposure limits).
LATENCY_SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOG", "TSLA", "AMD", "NFLX", "AVGO")
LATENCY_STEP = timedelta(seconds=20)
#: Untimed pause after the snapshot that follows a fill, before the next sample (see ``measure_latency``).
QUIET_BETWEEN_SAMPLES_S = 0.2
STAGES = (topics.TRIGGERS, topics.DECISIONS, topics.ORDERS_APPROVED, topics.TRADE_UPDATES)


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


async def measure_latency(pipeline: Pipeline, samples: int, warmup: int,
                          timeout_s: float = 15.0) -> dict[str, Any]:
    """Signal -> fill latency, one cross at a time: a buy, then the sell that closes it, symbol after symbol.

    One position open at a time keeps every order inside the default risk limits (net exposure,
    cash), so each sample is a full chain ending in a fill; event time moves 20 s per sample.
    """
    index = StageIndex(pipeline.prefix)
    snapshots = pipeline.topic(topics.ACCOUNT_SNAPSHOTS)
    watched = [pipeline.topic(s) for s in (*STAGES, topics.RISK_VERDICTS, topics.ACCOUNT_SNAPSHOTS)]
    observer = Observer(pipeline.bootstrap, watched, index, fetch_max_wait_ms=pipeline.fetch_max_wait_ms)
    totals: list[float] = []
    stages: dict[str, list[float]] = {s.name: [] for s in STAGES}
    missing: list[str] = []
    seqs = dict.fromkeys(LATENCY_SYMBOLS, 1)
    async with observer:
        at = await _prime(pipeline)
        for i in range(warmup + samples):
            symbol = LATENCY_SYMBOLS[(i // 2) % len(LATENCY_SYMBOLS)]
            seqs[symbol] += 1
            seq = seqs[symbol]
            at += LATENCY_STEP
            signal = make_signal(symbol, at, seq, bullish=i % 2 == 0)  # even: cross up (buy); odd: down (sell)
            started = time.perf_counter()
            await pipeline.send(topics.TA_SIGNALS, signal, symbol, wait=False)
            request_id = await _request_id(observer, index, f"{symbol}|{seq}", timeout_s)
            filled = None if request_id is None else await observer.wait_for(
                pipeline.topic(topics.TRADE_UPDATES), request_id, timeout_s)
            if filled is None:
                why = "no trigger" if request_id is None else _why(pipeline.prefix, observer, request_id)
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
            _split_into_stages(pipeline, observer, request_id, started, stages)
    if index.last_trigger is not None:
        pipeline.template_trigger = topics.TRIGGERS.decode(index.last_trigger)
    return {"signal_to_fill": latency_summary(totals), "samples_requested": samples, "warmup": warmup,
            "missing": missing,
            "stages": {name: latency_summary(values) for name, values in stages.items()}}


async def _prime(pipeline: Pipeline) -> datetime:
    """The first signal of each symbol: below the line, nothing to cross yet. Returns the event time reached."""
    at = SESSION_OPEN + timedelta(minutes=5)
    for symbol in LATENCY_SYMBOLS:
        await pipeline.send(topics.TA_SIGNALS, make_signal(symbol, at, 1, bullish=False), symbol)
        at += LATENCY_STEP
    await asyncio.sleep(1.0)
    return at


def _split_into_stages(pipeline: Pipeline, observer: Observer, request_id: str, started: float,
                       stages: dict[str, list[float]]) -> None:
    """Add one sample's time in each stage: from the previous stage's arrival to this one's."""
    previous = started
    for spec in STAGES:
        arrived = observer.arrivals.get((pipeline.topic(spec), request_id), previous)
        stages[spec.name].append((arrived - previous) * 1000)
        previous = arrived


async def _request_id(observer: Observer, index: StageIndex, key: str, timeout_s: float) -> str | None:
    """The request id of the trigger fired by signal ``symbol|seq``, once the observer has seen it."""
    if await observer.wait_until(lambda: key in index.request_ids, timeout_s):
        return index.request_ids[key]
    return None


def _why(prefix: str, observer: Observer, request_id: str) -> str:
    for topic, headers, value, _ in reversed(observer.records):
        if headers.get(h.CORRELATION_ID) != request_id:
            continue
        body = json.loads(value)
        return f"last {topic[len(prefix):]} {body.get('outcome') or body.get('event') or ''} " \
               f"{body.get('reason_codes') or (body.get('intent') or {}).get('action') or ''}"
    return "trigger only"

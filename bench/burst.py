"""A busy open, timed: many symbols cross in the same second, through every service to the fills.

The pipeline's five services run as processes (:class:`bench.pipeline_stack.Pipeline`) with the
firewall's order-rate limits at their maximum, so the burst is judged on exposure and cash rather
than refused after three orders (as ``tests/integration/test_burst.py`` does). Every symbol first
gets a signal below its MACD signal line (untimed, and left to settle). Then the clock starts and
every symbol's crossing signal is produced at once, all with the same event time; the bench reads
triggers, decisions, verdicts and fills as they arrive and stops when every approved order has its
fill (or after ``timeout_s``). Meanwhile the market goes on: each symbol with an approved order gets
a price every 100 ms (same price, later event time), since a resting limit order fills on a later
price at the paper venue as at a real one. The figure is the time from the first crossing produced to the last
fill: the target is 5 s for 500 symbols. The integration test proves that nothing is lost; this
says how long it takes.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from torghut_contracts import headers as h
from torghut_contracts import topics

from .observe import Observer
from .pipeline_signals import SESSION_OPEN, make_signal
from .pipeline_stack import Pipeline

#: Raised order-rate limits (the firewall refuses more than 199 a second or a minute).
BURST_ENV = {"RISK_LIMITS__MAX_ORDERS_PER_SECOND": "199", "RISK_LIMITS__MAX_ORDERS_PER_MINUTE": "199",
             "DECISION_CLIENT_WORKERS": "16"}
TARGET_S = 5.0
TICK_S = 0.1


def ticker(i: int) -> str:
    """``BAAA``, ``BAAB``, ...: 17,576 tickers no other phase uses."""
    return "B" + "".join(chr(65 + (i // 26**k) % 26) for k in (2, 1, 0))


class BurstIndex:
    """Indexes records by correlation id (fills and verdicts by what they say), and triggers' symbols."""

    def __init__(self) -> None:
        self.symbol_of: dict[str, str] = {}

    def __call__(self, topic: str, headers: dict[str, str], value: bytes) -> str | None:
        correlation = headers.get(h.CORRELATION_ID, "")
        if topic.endswith(topics.TRIGGERS.name):
            self.symbol_of[correlation] = json.loads(value)["symbol"]
        elif topic.endswith(topics.TRADE_UPDATES.name) and json.loads(value).get("event") != "fill":
            return None
        elif topic.endswith(topics.RISK_VERDICTS.name):
            return f"{json.loads(value).get('outcome')}:{correlation}"
        return correlation


async def crossing_burst(pipeline: Pipeline, symbols: int, timeout_s: float = 60.0) -> dict[str, Any]:
    names = [ticker(i) for i in range(symbols)]
    price_of = {symbol: Decimal(50 + i % 200) + Decimal("0.25") for i, symbol in enumerate(names)}
    before = SESSION_OPEN + timedelta(hours=2)
    crossing = before + timedelta(minutes=1)
    watched = [pipeline.topic(s) for s in (topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS,
                                           topics.TRADE_UPDATES)]
    index = BurstIndex()
    observer = Observer(pipeline.bootstrap, watched, index, fetch_max_wait_ms=pipeline.fetch_max_wait_ms)
    async with observer:
        for symbol in names:
            await pipeline.send(topics.TA_SIGNALS, make_signal(symbol, before, 1, bullish=False,
                                                                price=price_of[symbol]), symbol, wait=False)
        await asyncio.sleep(2.0)  # untimed: every symbol's first signal applied
        started = time.perf_counter()
        for symbol in names:
            await pipeline.send(topics.TA_SIGNALS, make_signal(symbol, crossing, 2, bullish=True,
                                                                price=price_of[symbol]), symbol, wait=False)
        assert pipeline.producer is not None
        await pipeline.producer.flush()
        produced = time.perf_counter() - started

        def arrived(topic: topics.TopicSpec[Any], prefix: str = "") -> list[tuple[str, float]]:
            name = pipeline.topic(topic)
            return [(key.removeprefix(prefix), at) for (t, key), at in observer.arrivals.items()
                    if t == name and key.startswith(prefix)]

        def settled() -> bool:
            if len(arrived(topics.TRIGGERS)) < symbols or len(arrived(topics.RISK_VERDICTS)) < symbols:
                return False
            return len(arrived(topics.TRADE_UPDATES)) >= len(arrived(topics.RISK_VERDICTS, "approve:"))

        deadline = time.monotonic() + timeout_s
        tick = 0
        while not settled() and time.monotonic() < deadline:
            # The market goes on: every symbol with an approved order gets its next price every
            # TICK_S (a resting limit order fills on a later price, as at a venue), until it has its fill.
            tick += 1
            filled = {key for key, _ in arrived(topics.TRADE_UPDATES)}
            for key, _ in arrived(topics.RISK_VERDICTS, "approve:"):
                if key in filled or key not in index.symbol_of:
                    continue
                symbol = index.symbol_of[key]
                signal = make_signal(symbol, crossing + timedelta(seconds=tick), 2 + tick, bullish=True,
                                     price=price_of[symbol])
                await pipeline.send(topics.TA_SIGNALS, signal, symbol, wait=False)
            await observer.wait_until(settled, TICK_S)
    stages = {"triggers": arrived(topics.TRIGGERS), "decisions": arrived(topics.DECISIONS),
              "verdicts": arrived(topics.RISK_VERDICTS), "fills": arrived(topics.TRADE_UPDATES)}
    approved = len(arrived(topics.RISK_VERDICTS, "approve:"))
    figures: dict[str, Any] = {"symbols": symbols, "produce_s": round(produced, 3), "approved": approved,
                               "target_s": TARGET_S}
    for stage, seen in stages.items():
        figures[stage] = len(seen)
        figures[f"last_{stage[:-1]}_after_s"] = round(max(at for _, at in seen) - started, 3) if seen else None
    figures["every_fill_within_s"] = figures["last_fill_after_s"] if figures["fills"] >= approved > 0 else None
    return figures


async def run_burst(bootstrap: str, admin_url: str, log_dir: Path, *, symbols: int,
                    fetch_max_wait_ms: int = 20) -> dict[str, Any]:
    pipeline = Pipeline(bootstrap, admin_url, log_dir, fetch_max_wait_ms=fetch_max_wait_ms, env=dict(BURST_ENV))
    try:
        await pipeline.start()
        return await crossing_burst(pipeline, symbols)
    finally:
        await pipeline.stop()

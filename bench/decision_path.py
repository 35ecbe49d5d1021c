"""The pipeline bench's decision-path phase: decisions per second when many triggers arrive at once.

Only decision-client and decision-engine are exercised: the triggers are produced straight onto
``torghut.triggers.v1``, copied from one the latency phase (:mod:`bench.signal_to_fill`) observed.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders

from .observe import Observer
from .pipeline_signals import RATE_SYMBOLS
from .pipeline_stack import Pipeline


async def decision_burst(pipeline: Pipeline, count: int, timeout_s: float = 120.0) -> dict[str, Any]:
    """Decisions per second when ``count`` triggers arrive at once (decision-client + decision-engine).

    The triggers are copies of one the signal-trigger emitted in the latency phase, each with its
    own request id and symbol, produced straight onto ``torghut.triggers.v1``.
    """
    template = pipeline.template_trigger
    if template is None:
        return {"error": "no trigger was observed to copy"}
    observer = Observer(pipeline.bootstrap, [pipeline.topic(topics.DECISIONS)],
                        lambda _t, headers, _v: headers.get(h.CORRELATION_ID),
                        fetch_max_wait_ms=pipeline.fetch_max_wait_ms)
    wanted: list[str] = []
    done: list[float] = []
    assert pipeline.producer is not None
    async with observer:
        for i in range(count):
            symbol = RATE_SYMBOLS[i % len(RATE_SYMBOLS)]
            request_id = hashlib.sha256(f"bench-burst-{pipeline.prefix}-{i}".encode()).hexdigest()
            trigger = template.model_copy(update={"request_id": request_id, "symbol": symbol})
            wanted.append(request_id)
            await pipeline.producer.send(pipeline.topic(topics.TRIGGERS), topics.TRIGGERS.encode(trigger),
                                     key=symbol.encode(),
                                     headers=MessageHeaders.new(topics.TRIGGERS.name,
                                                                correlation_id=request_id).as_kafka())
        await pipeline.producer.flush()
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            arrived = [observer.arrivals.get((pipeline.topic(topics.DECISIONS), r)) for r in wanted]
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

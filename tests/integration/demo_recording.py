"""Record the demo session as ``torghut replay dump`` files: every service on the real broker, then a dump per topic.

Used by ``test_dspy_loop.py`` (and runnable by hand: ``uv run python -m tests.integration.demo_recording OUT``,
which starts its own embedded stack). The session is the committed demo dataset (1,950 signals),
replayed as fast as the broker takes it, with the kill switch off and trading ACTIVE; the services
judge it by event time (``service_plan``'s replay settings), so the recording is the same session
whatever the wall clock.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer
from torghut_cli.control import next_command
from torghut_cli.demo.runner import load_session
from torghut_cli.demo.stack import service_plan
from torghut_contracts import topics
from torghut_contracts.enums import TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GLOBAL_SCOPE
from torghut_runtime.testing import create_topics_for, read_records

#: What the DSPy data set reads (torghut_research.dspy.dataset.TOPICS_READ), snapshots included.
RECORDED = (topics.TA_SIGNALS, topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.TRADE_UPDATES,
            topics.ACCOUNT_SNAPSHOTS)


async def record_demo_session(bootstrap: str, database_url: str, prefix: str, workdir: Path, *,
                              quiet_s: float = 6.0, timeout_s: float = 600.0) -> Path:
    """Run the suite over the demo session under topic ``prefix`` and dump it; returns the dump directory."""
    await create_topics_for(bootstrap, prefix, *topics.ALL_TOPICS)
    env = {"TOPIC_PREFIX": prefix, "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200",
           "KAFKA_FETCH_MAX_WAIT_MS": "20", "SNAPSHOT_INTERVAL_S": "2", "DECISION_CLIENT_WORKERS": "1"}
    plan = service_plan(bootstrap, database_url, workdir / "logs", env)
    for service in plan:
        service.start()
    try:
        for service in plan:
            await asyncio.to_thread(service.wait_ready, timeout_s=90)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            opening = next_command(None, scope=GLOBAL_SCOPE, kill_switch=False, trading_state=TradingState.ACTIVE,
                                   reason="dspy loop: session open")
            await producer.send_and_wait(prefix + topics.CONTROL.name, topics.CONTROL.encode(opening), key=b"global",
                                         headers=MessageHeaders.new(topics.CONTROL.name).as_kafka())
            for symbol, body, _ in load_session():
                await producer.send(prefix + topics.TA_SIGNALS.name, body, key=symbol.encode(),
                                    headers=MessageHeaders.new(topics.TA_SIGNALS.name).as_kafka())
            await producer.flush()
        finally:
            await producer.stop()
        await _wait_until_quiet(bootstrap, prefix, plan, quiet_s=quiet_s, timeout_s=timeout_s)
    finally:
        for service in reversed(plan):
            await asyncio.to_thread(service.stop, grace_s=10)
    out = workdir / "dump"
    out.mkdir(parents=True, exist_ok=True)
    for spec in RECORDED:
        await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "torghut_cli.main", "--bootstrap", bootstrap, "replay", "dump",
            prefix + spec.name, "--out", str(out / f"{spec.name}.jsonl")], check=True, capture_output=True,
            timeout=300)
    return out


async def _wait_until_quiet(bootstrap: str, prefix: str, plan: list, *, quiet_s: float,  # type: ignore[type-arg]
                            timeout_s: float) -> None:
    """Until the decisions, verdicts and trade updates stop growing for ``quiet_s`` (every trigger decided)."""
    watched = (topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.TRADE_UPDATES)
    deadline = time.monotonic() + timeout_s
    last: tuple[int, ...] = ()
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        for service in plan:
            if not service.alive():
                raise RuntimeError(f"{service.name} died:\n{service.log_tail()}")
        counts = []
        for spec in watched:
            records = await read_records(bootstrap, prefix + spec.name, expect=1_000_000, timeout=0.5)
            counts.append(len(records))
        now = tuple(counts)
        if now != last:
            last, still_since = now, time.monotonic()
        elif now[0] > 0 and now[1] >= now[0] and time.monotonic() - still_since >= quiet_s:
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"the demo session did not settle in {timeout_s:g}s: {dict(zip(watched, last, strict=False))}")


def main() -> None:
    import tempfile

    from torghut_embedded.stack import EmbeddedStack

    target = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory(prefix="torghut-demo-rec-") as tmp, EmbeddedStack(Path(tmp) / "infra") as stack:
        dump = asyncio.run(record_demo_session(stack.kafka_bootstrap, stack.database_url, "rec.", target))
    print(dump)


if __name__ == "__main__":
    main()

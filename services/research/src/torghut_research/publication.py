"""Telling the suite what a lane run decided: one ``torghut.research.lane-runs.v1`` event per run.

The run directory, committed before this is called, stays the record of truth: the event is built
from its gate report and carries its manifest's SHA-256. The message id derives from the run and
its manifest, so publishing the same run again (a re-run of the same inputs, target and time gives
the same directory) is the same message, and the console, which keeps one row per run id, changes
nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import LaneGate, LaneRun

SEND_TIMEOUT_S = 15.0


class PublishError(Exception):
    """The run is decided and its directory written, but its event did not reach the broker."""


def lane_run_event(result: dict[str, Any]) -> LaneRun:
    """The event of a finished run: ``run_lane``'s result and the gate report it wrote."""
    report = json.loads(Path(result["gate_report_path"]).read_text())
    return LaneRun(
        run_id=result["run_id"], candidate_id=result["candidate_id"], evaluated_at=report["evaluated_at"],
        promotion_target=result["promotion_target"], action=result["action"],
        recommended_mode=result["recommended_mode"], reasons=result["reasons"],
        gates=[LaneGate(gate_id=gate["gate_id"], passed=gate["status"] == "pass", reasons=gate["reasons"])
               for gate in report["gates"]],
        manifest_sha256=result["manifest_sha256"], paper_patch=result["paper_patch_path"] is not None,
        code_version=report["code_version"])


async def publish_lane_run(bootstrap: str, topic: str, event: LaneRun) -> None:
    """Send the event and wait for the broker's acknowledgement; raises :class:`PublishError`."""
    headers = MessageHeaders.new(topics.LANE_RUNS.name, correlation_id=event.run_id,
                                 message_id=f"lane-run/{event.run_id}/{event.manifest_sha256[:16]}")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=int(SEND_TIMEOUT_S * 1000))
    try:
        await producer.start()
        await producer.send_and_wait(topic, topics.LANE_RUNS.encode(event), key=topics.LANE_RUNS.key(event).encode(),
                                     headers=headers.as_kafka())
    except (KafkaError, OSError) as exc:
        raise PublishError(f"{topic} at {bootstrap}: {type(exc).__name__}: {exc}") from exc
    finally:
        await producer.stop()

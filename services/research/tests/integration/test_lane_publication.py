"""A lane run's summary on ``torghut.research.lane-runs.v1``: built from the committed gate report, the
same message for the same run, and a broker that is away does not undo a decided run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from torghut_contracts import topics
from torghut_contracts.headers import MESSAGE_ID
from torghut_contracts.models import LaneRun
from torghut_research import publication
from torghut_runtime.testing import create_topics_for, read_records

from .conftest import closed_port, lane


def test_a_run_publishes_what_its_gate_report_says_once_per_run(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                                lane_inputs: list[str], kafka_bootstrap: str,
                                                                topic_namespace: str) -> None:
    asyncio.run(create_topics_for(kafka_bootstrap, topic_namespace, topics.LANE_RUNS))
    publish = ["--kafka-bootstrap", kafka_bootstrap, "--topic-prefix", topic_namespace]
    code, first, err = lane(capsys, *lane_inputs, *publish, "--output-dir", str(tmp_path / "a"))
    assert code == 0 and first is not None, err
    assert first["published"] == topic_namespace + topics.LANE_RUNS.name
    code, again, _ = lane(capsys, *lane_inputs, *publish, "--output-dir", str(tmp_path / "b"))
    assert code == 0 and again is not None

    records = asyncio.run(read_records(kafka_bootstrap, first["published"], expect=2, settle=0.5))
    assert len(records) == 2
    event = records[0].model(topics.LANE_RUNS)
    report = json.loads((tmp_path / "a/gates/gate-evaluation.json").read_text())
    assert (event.run_id, event.candidate_id, event.manifest_sha256) == (
        first["run_id"], first["candidate_id"], first["manifest_sha256"])
    assert (event.action, event.recommended_mode, event.promotion_target) == (
        first["action"], first["recommended_mode"], "paper")
    assert [(g.gate_id, g.passed, g.reasons) for g in event.gates] == [
        (g["gate_id"], g["status"] == "pass", g["reasons"]) for g in report["gates"]]
    assert event.paper_patch is (first["paper_patch_path"] is not None)
    assert records[0].key == first["run_id"]
    assert records[0].headers[MESSAGE_ID] == records[1].headers[MESSAGE_ID], \
        "the same run is the same message: a consumer that saw it changes nothing"


def test_a_broker_that_is_away_leaves_the_run_decided_and_written(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path, lane_inputs: list[str]) -> None:
    code, result, err = lane(capsys, *lane_inputs, "--kafka-bootstrap", f"127.0.0.1:{closed_port()}",
                             "--output-dir", str(tmp_path / "out"))
    assert code == 3 and "not published" in err
    assert result is not None and result["published"] is None and result["action"] in ("promote", "deny", "hold")
    assert (tmp_path / "out/manifest.json").is_file()


def test_without_a_broker_nothing_is_published(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                               lane_inputs: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    code, result, _ = lane(capsys, *lane_inputs, "--output-dir", str(tmp_path / "out"))
    assert code == 0 and result is not None and result["published"] is None


def test_a_summary_that_does_not_fit_the_contract_is_refused_by_name(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, lane_inputs: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    made = publication.lane_run_event

    def off_contract(result: dict[str, Any]) -> LaneRun:  # a gate id past the contract's 64 characters
        event = made(result).model_dump(mode="json")
        return LaneRun.model_validate({**event, "gates": [{"gate_id": "g" * 65, "passed": True}]})
    monkeypatch.setattr(publication, "lane_run_event", off_contract)
    code, result, err = lane(capsys, *lane_inputs, "--kafka-bootstrap", f"127.0.0.1:{closed_port()}",
                             "--output-dir", str(tmp_path / "out"))
    assert code == 3 and "does not fit torghut.research.lane-runs.v1" in err and "gate_id" in err
    assert result is not None and result["published"] is None
    assert (tmp_path / "out/manifest.json").is_file()

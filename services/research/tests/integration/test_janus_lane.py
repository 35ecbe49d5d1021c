"""Janus-Q in the lane on the demo session: artifacts in the manifest, evidence in gate6 and the
prerequisites, and a tampered artifact failing the prerequisites."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from torghut_research.canonical import sha256
from torghut_research.gates.promotion import promotion_prerequisites
from torghut_research.policy import GatePolicy

from ..conftest import SHIPPED_POLICY
from .conftest import CONFIG, lane

EXPLORATION = {  # docs/research.md step 4: exercises the promotion path only
    "policy_version": "exploration-only-never-for-promotion", "gate1_min_net_pnl": -1e6,
    "gate1_max_negative_fold_ratio": 1, "gate1_min_deflated_sharpe": 0, "gate2_max_fragility_score": 1,
    "gate2_max_fragility_state_rank": 3, "gate6_min_return_over_drawdown": -1e6,
    "gate7_max_coverage_error_pass": 0.15, "gate7_max_coverage_error_degrade": 0.15,
    "gate7_max_coverage_error_abstain": 0.15, "promotion_uncertainty_max_coverage_error": 0.15}


def test_the_lane_writes_janus_evidence_and_gates_on_it(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        lane_inputs: list[str]) -> None:
    code, summary, _ = lane(capsys, *lane_inputs, "--output-dir", str(tmp_path / "out"))
    assert code == 0 and summary is not None
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    car_bytes, reward_bytes = ((out / name).read_bytes() for name in (
        "gates/janus-event-car-v1.json", "gates/janus-hgrm-reward-v1.json"))
    assert manifest["files"]["gates/janus-event-car-v1.json"] == sha256(car_bytes)
    assert manifest["files"]["gates/janus-hgrm-reward-v1.json"] == sha256(reward_bytes)
    car, reward = json.loads(car_bytes), json.loads(reward_bytes)
    report = json.loads((out / "backtest/evaluation-report.json").read_text())
    assert car["summary"]["event_count"] == 1950
    assert reward["summary"]["reward_count"] == report["metrics"]["decision_count"] > 0
    assert reward["chain"]["parent_sha256"] == sha256(car_bytes)
    evidence = json.loads((out / "gates/profitability-evidence-v4.json").read_text())
    assert evidence["janus_q"]["evidence_complete"] and evidence["janus_q"]["schema_version"] == "janus-q-evidence-v1"
    assert evidence["reproducibility"]["artifact_hashes"]["janus_hgrm_reward"] == sha256(reward_bytes)
    gates = json.loads((out / "gates/gate-evaluation.json").read_text())
    gate6 = next(g for g in gates["gates"] if g["gate_id"] == "gate6_profitability_evidence")
    assert not any(r.startswith("janus") for r in gate6["reasons"])
    assert gates["promotion_evidence"]["janus_q"]["hgrm_reward"]["artifact_sha256"] == sha256(reward_bytes)
    assert "1E+" not in car_bytes.decode() + reward_bytes.decode() and "e-0" not in reward_bytes.decode()


def test_a_tampered_janus_artifact_fails_the_prerequisites(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           write: Callable[[str, Any], Path],
                                                           lane_inputs: list[str]) -> None:
    policy_data = json.loads(SHIPPED_POLICY.read_text()) | EXPLORATION
    args = [*lane_inputs]
    args[args.index("--gate-policy") + 1] = str(write("exploration-policy.json", policy_data))
    out = tmp_path / "out"
    code, summary, _ = lane(capsys, *args, "--output-dir", str(out))
    assert code == 0 and summary is not None and summary["action"] == "promote"
    policy = GatePolicy.model_validate(policy_data)
    report = json.loads((out / "gates/gate-evaluation.json").read_text())
    state = {"runId": report["run_id"]}
    assert promotion_prerequisites(policy, report, state, "paper", out)["allowed"]
    path = out / "gates/janus-hgrm-reward-v1.json"
    body = json.loads(path.read_text())
    body["rewards"][0]["final_reward"] = "3"  # a better reward than the decision earned
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    result = promotion_prerequisites(policy, report, state, "paper", out)
    assert not result["allowed"] and result["reasons"] == ["janus_q_evidence_hash_mismatch"]
    detail = next(d for d in result["reason_details"] if d["reason"] == "janus_q_evidence_hash_mismatch")
    assert detail["artifact"] == "gates/janus-hgrm-reward-v1.json"
    assert set(detail["checks"]) == {"artifact_sha256", "manifest_hash_content"}
    path.unlink()
    reasons = promotion_prerequisites(policy, report, state, "paper", out)["reasons"]
    assert {"janus_hgrm_reward_artifact_missing", "required_artifacts_missing"} <= set(reasons)


def test_the_event_window_is_a_config_value(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            write: Callable[[str, Any], Path], lane_inputs: list[str]) -> None:
    args = [*lane_inputs]
    args[args.index("--strategy-config") + 1] = str(write("janus.yaml", CONFIG + "janus: {event_window_bars: 5}\n"))
    code, _, _ = lane(capsys, *args, "--output-dir", str(tmp_path / "five"))
    assert code == 0
    car = json.loads((tmp_path / "five/gates/janus-event-car-v1.json").read_text())
    assert car["methodology"]["event_window_bars"] == 5
    assert {r["window_bars_observed"] for r in car["records"]} == {5}
    bad = [*lane_inputs]
    bad[bad.index("--strategy-config") + 1] = str(write("bad.yaml",
                                                        CONFIG + "janus: {hgrm: {direction_gate_mismatch: -1}}\n"))
    code, _, err = lane(capsys, *bad, "--output-dir", str(tmp_path / "bad"))
    assert code == 2 and "janus.hgrm.direction_gate_mismatch" in err

"""The DSPy loop on the live system: the demo session recorded from the real broker -> data set -> compile with
a real DSPy optimizer (through the LM stand-in over HTTP) -> eval -> promote to shadow -> a decision-client in
shadow mode and the decision-engine in DSPy mode, both running the promoted program; and a tampered artifact
refused at start-up.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from torghut_cli.demo.processes import ServiceFailed, ServiceProcess
from torghut_cli.demo.stack import ACCOUNT, service_plan
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, StrategyTrigger
from torghut_embedded.asgi import serve_in_thread
from torghut_embedded.postgres import create_database, drop_database
from torghut_embedded.rule_llm import RuleLlm
from torghut_runtime.testing import create_topics_for, produce, read_records

from tests.integration.demo_recording import record_demo_session

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SHIPPED_METRIC_POLICY = REPO / "services/research/config/dspy-metrics.yaml"
CREATED_AT = "2026-02-12T22:00:00Z"


def research(*argv: str | Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "torghut_research", "dspy", *map(str, argv)], capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def first_trigger_decided_to_trade(dump: Path) -> StrategyTrigger:
    """The first trigger the recorded session's engine proposed to trade on: a DSPy-mode engine asks its
    program only about those (a hold from the rules is decided without it)."""
    def values(topic: str) -> list[dict[str, Any]]:
        return [json.loads(line)["value"] for line in (dump / f"{topic}.jsonl").read_text().splitlines()]
    trading = {d["request_id"] for d in values(topics.DECISIONS.name) if d["intent"]["action"] != "hold"}
    return next(StrategyTrigger.model_validate(t) for t in values(topics.TRIGGERS.name) if t["request_id"] in trading)


def exploration_policy(path: Path) -> Path:
    """The shipped policy with the veto checks opened: exercises promotion on data no honest policy would pass."""
    policy = yaml.safe_load(SHIPPED_METRIC_POLICY.read_text())
    policy["policy"]["vetoAlignmentRateMin"] = 0.0
    policy["policy"]["falseVetoRateMax"] = 1.0
    path.write_text(yaml.safe_dump(policy))
    return path


async def test_dataset_compile_eval_promote_and_the_shadow_runtime(
        kafka_bootstrap: str, database_url: str, fresh_database_url: str, topic_namespace: str,
        tmp_path: Path) -> None:
    dump = await record_demo_session(kafka_bootstrap, fresh_database_url, topic_namespace, tmp_path / "demo")

    built = await asyncio.to_thread(research, "dataset", "--dump", dump, "--output-dir", tmp_path / "dataset",
                                    "--created-at", CREATED_AT)
    counts = built["counts"]
    assert counts["examples"] >= 50 and counts["train"] > 0 and counts["eval"] > 0
    assert counts["firewallVetoed"] + counts["firewallApproved"] > 0  # the firewall's verdicts were joined
    dataset = Path(built["dataset"])

    llm = RuleLlm()
    with serve_in_thread(llm.app) as lm_url:
        compiled = await asyncio.to_thread(
            research, "compile", "--dataset", dataset, "--lm-base-url", lm_url + "/v1", "--lm-model", "torghut-standin",
            "--optimizer", "labeled-few-shot", "--seed", "7", "--output-dir", tmp_path / "compile",
            "--created-at", CREATED_AT, "--metric-policy", SHIPPED_METRIC_POLICY)
        assert compiled["datasetHash"] == built["datasetHash"] and llm.calls > 0
        out = tmp_path / "compile"

        # Eval under the shipped policy: a decision either way (on a random walk the compiled program need
        # not beat the uncompiled baseline's veto alignment), and promote agrees with it.
        shipped = await asyncio.to_thread(
            research, "eval", "--compile-result", out / "dspy-compile-result.json",
            "--observed-metrics", out / "dspy-observed-metrics.json", "--baseline", out / "dspy-baseline-metrics.json",
            "--metric-policy", SHIPPED_METRIC_POLICY, "--output-dir", tmp_path / "eval", "--created-at", CREATED_AT)
        assert shipped["artifactHash"] == compiled["artifactHash"]
        assert not [r for r in shipped["reasons"] if r.startswith(("compile_result_missing", "deterministic_"))]
        policy = SHIPPED_METRIC_POLICY
        promoted = await asyncio.to_thread(
            research, "promote", "--eval-report", tmp_path / "eval/dspy-eval-report.json",
            "--compile-result", out / "dspy-compile-result.json", "--target", "shadow",
            "--approval-token-ref", "ticket:OPS-1234", "--promoted-by", "test", "--metric-policy", policy,
            "--output-dir", tmp_path / "promote", "--created-at", CREATED_AT)
        assert promoted["approved"] is (shipped["promotionRecommendation"] == "shadow"), promoted["reasons"]
        if not promoted["approved"]:
            assert "eval_recommendation_hold" in promoted["reasons"]
            policy = exploration_policy(tmp_path / "exploration-metrics.yaml")
            explored = await asyncio.to_thread(
                research, "eval", "--compile-result", out / "dspy-compile-result.json",
                "--observed-metrics", out / "dspy-observed-metrics.json", "--baseline",
                out / "dspy-baseline-metrics.json", "--metric-policy", policy, "--output-dir", tmp_path / "eval",
                "--created-at", CREATED_AT)
            assert explored["promotionRecommendation"] == "shadow", explored["reasons"]
            promoted = await asyncio.to_thread(
                research, "promote", "--eval-report", tmp_path / "eval/dspy-eval-report.json",
                "--compile-result", out / "dspy-compile-result.json", "--target", "shadow",
                "--approval-token-ref", "ticket:OPS-1234", "--promoted-by", "test", "--metric-policy", policy,
                "--output-dir", tmp_path / "promote", "--created-at", CREATED_AT)
        assert promoted["approved"] and promoted["promotionTarget"] == "shadow", promoted["reasons"]
        assert promoted["artifactHash"] == compiled["artifactHash"]

        # The promoted record names the compile result, whose URI names the runtime artifact.
        result = json.loads((tmp_path / "promote/dspy-compile-result.json").read_text())
        assert result["artifactHash"] == promoted["artifactHash"]
        runtime_hash = result["compiledArtifactUri"].removeprefix("artifact:///").removesuffix(".json")
        assert runtime_hash == compiled["runtimeArtifactHash"]
        artifact_dir = out / "artifacts"

        # The decision-client in shadow mode with the compiled program, beside the reference engine in DSPy mode
        # running the same promoted program: one hash, one program, in both services.
        prefix = topic_namespace + "rt."
        await create_topics_for(kafka_bootstrap, prefix, *topics.ALL_TOPICS)
        name = f"t_dspy_{uuid.uuid4().hex[:10]}"
        db = await create_database(database_url, name)
        env = {"TOPIC_PREFIX": prefix, "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200",
               "DECISION_CLIENT_WORKERS": "1", "LLM_DSPY_RUNTIME_MODE": "shadow",
               "LLM_DSPY_ARTIFACT_HASH": runtime_hash, "LLM_DSPY_ARTIFACT_DIR": str(artifact_dir),
               "JANGAR_BASE_URL": lm_url, "LLM_MODEL": "torghut-standin",
               "DECISION_ENGINE_LLM_BASE_URL": lm_url + "/v1", "DECISION_ENGINE_LLM_MODEL": "torghut-standin",
               "DECISION_ENGINE_DSPY_ARTIFACT_HASH": runtime_hash,
               "DECISION_ENGINE_DSPY_ARTIFACT_DIR": str(artifact_dir)}
        plan = {s.name: s for s in service_plan(kafka_bootstrap, db, tmp_path / "rt-logs", env)}
        running = [plan["decision-engine"], plan["decision-client"]]
        try:
            for service in running:
                service.start()
            for service in running:
                await asyncio.to_thread(service.wait_ready, timeout_s=90)
            trigger = first_trigger_decided_to_trade(dump)
            snapshot = AccountSnapshot(snapshot_id="snap-dspy-loop", account=ACCOUNT, venue="paper",
                                       as_of=trigger.event_ts - timedelta(seconds=5), equity=100000, cash=100000,
                                       buying_power=100000)
            await produce(kafka_bootstrap, prefix + topics.ACCOUNT_SNAPSHOTS.name, snapshot, key=ACCOUNT,
                          headers=MessageHeaders.new(topics.ACCOUNT_SNAPSHOTS.name))
            await asyncio.sleep(1.0)
            await produce(kafka_bootstrap, prefix + topics.TRIGGERS.name, trigger, key=trigger.symbol,
                          headers=MessageHeaders.new(topics.TRIGGERS.name))
            records = await read_records(kafka_bootstrap, prefix + topics.DECISIONS.name, expect=1, timeout=90)
            assert records, plan["decision-client"].log_tail(40)
            decision = topics.DECISIONS.decode(records[0].value)
            assert decision.request_id == trigger.request_id
            assert decision.shadow is not None, plan["decision-client"].log_tail(40)
            assert decision.shadow.artifact_hash == runtime_hash
            assert not decision.shadow.reason_codes, decision.shadow  # the program answered; no fallback hold
            assert decision.provenance.transport == "decision-engine"  # shadow never decides
            assert (decision.provenance.mode, decision.provenance.artifact_hash) == ("dspy", runtime_hash), \
                plan["decision-engine"].log_tail(40)
        finally:
            for service in reversed(running):
                await asyncio.to_thread(service.stop, grace_s=10)
            await drop_database(database_url, name)

    # A tampered artifact file is refused at start-up, naming the file.
    tampered = tmp_path / "tampered"
    shutil.copytree(artifact_dir, tampered)
    path = tampered / f"{runtime_hash}.json"
    document = json.loads(path.read_text())
    document["state"]["demos"][0]["action"] = "buy" if document["state"]["demos"][0]["action"] != "buy" else "sell"
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    client = ServiceProcess("decision-client", "torghut_decision_client", {
        **plan["decision-client"].env, "LLM_DSPY_ARTIFACT_DIR": str(tampered)}, tmp_path / "tampered-logs")
    client.start()
    try:
        with pytest.raises(ServiceFailed, match=r"LLM_DSPY_ARTIFACT_DIR=.*refused.*" + runtime_hash):
            await asyncio.to_thread(client.wait_ready, timeout_s=60)
    finally:
        client.stop(grace_s=5)

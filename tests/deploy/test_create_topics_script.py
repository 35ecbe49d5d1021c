"""create-topics.sh (compose topic-init and the chart's Job), run against a stand-in kafka-topics.sh.

The stand-in records every invocation and answers --describe with a canned cluster state in the
format of Kafka's kafka-topics.sh, so the script's decisions (create, grow, leave alone) and the
exact arguments it passes are checked without a JVM.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "helm" / "torghut" / "files" / "create-topics.sh"
TOPICS_TXT = ROOT / "deploy" / "compose" / "topics.txt"

STAND_IN = """#!/bin/sh
printf '%s\\n' "$*" >> "$STUB_LOG"
case " $* " in
  *" --describe "*) cat "$STUB_DESCRIBE" ;;
esac
exit "${STUB_EXIT:-0}"
"""


def describe_line(topic: str, partitions: int) -> str:
    """What kafka-topics.sh --describe prints for a topic: a summary line, then one line per partition."""
    lines = [f"Topic: {topic}\tTopicId: AbCdEf\tPartitionCount: {partitions}\tReplicationFactor: 1\tConfigs: "]
    lines += [f"\tTopic: {topic}\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1" for p in range(partitions)]
    return "\n".join(lines)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]

    def creates(self) -> dict[str, list[str]]:
        return {c[c.index("--topic") + 1]: c for c in self.calls if "--create" in c}

    def alters(self) -> dict[str, list[str]]:
        return {c[c.index("--topic") + 1]: c for c in self.calls if "--alter" in c}


@pytest.fixture
def run_script(tmp_path: Path):  # type: ignore[no-untyped-def]
    kafka_home = tmp_path / "kafka"
    (kafka_home / "bin").mkdir(parents=True)
    stand_in = kafka_home / "bin" / "kafka-topics.sh"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)

    def run(existing: dict[str, int] | None = None, topics: str | None = None, **env: str) -> Run:
        log = tmp_path / "calls.log"
        log.write_text("")
        describe = tmp_path / "describe.txt"
        describe.write_text("\n".join(describe_line(t, p) for t, p in (existing or {}).items()) + "\n")
        topics_file = tmp_path / "topics.txt"
        topics_file.write_text(topics if topics is not None else TOPICS_TXT.read_text())
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KAFKA_HOME": str(kafka_home),
                       "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", "TOPICS_FILE": str(topics_file),
                       "LOG_DIR": str(tmp_path / "logs"), "STUB_LOG": str(log), "STUB_DESCRIBE": str(describe),
                       **env}
        result = subprocess.run(["/bin/sh", str(SCRIPT)], capture_output=True, text=True, env=environment,
                                timeout=60, check=False)
        calls = [shlex.split(line) for line in log.read_text().splitlines()]
        return Run(result.returncode, result.stdout, result.stderr, calls)

    return run


def listed_topics() -> dict[str, tuple[int, list[str]]]:
    listed = {}
    for line in TOPICS_TXT.read_text().splitlines():
        if line and not line.startswith("#"):
            name, partitions, *configs = line.split()
            listed[name] = (int(partitions), configs)
    return listed


def test_empty_cluster_gets_every_listed_topic_with_its_partitions_and_configs(run_script) -> None:  # type: ignore[no-untyped-def]
    run = run_script()
    assert run.returncode == 0, run.stderr
    creates = run.creates()
    assert set(creates) == set(listed_topics())
    for name, (partitions, configs) in listed_topics().items():
        call = creates[name]
        assert call[:2] == ["--bootstrap-server", "kafka:9092"]
        assert call[call.index("--partitions") + 1] == str(partitions)
        assert call[call.index("--replication-factor") + 1] == "1"
        assert "--if-not-exists" in call
        passed = [call[i + 1] for i, arg in enumerate(call) if arg == "--config"]
        assert sorted(passed) == sorted(configs), name
    assert sum("--describe" in c for c in run.calls) == 1, "one describe for the whole cluster state"
    assert f"{len(creates)} created" in run.stdout


def test_existing_topics_are_left_alone_and_the_run_is_idempotent(run_script) -> None:  # type: ignore[no-untyped-def]
    existing = {name: partitions for name, (partitions, _) in listed_topics().items()}
    run = run_script(existing)
    assert run.returncode == 0, run.stderr
    assert not run.creates() and not run.alters()
    assert f"{len(existing)} already there" in run.stdout


def test_prefix_and_replication_factor_apply(run_script) -> None:  # type: ignore[no-untyped-def]
    run = run_script({"sandbox.r1.torghut.control.v1": 1}, TOPIC_PREFIX="sandbox.r1.", TOPIC_REPLICATION_FACTOR="3")
    assert run.returncode == 0, run.stderr
    creates = run.creates()
    assert "sandbox.r1.torghut.control.v1" not in creates, "already there under the prefix"
    assert "sandbox.r1.torghut.decisions.v1" in creates
    assert all(c[c.index("--replication-factor") + 1] == "3" for c in creates.values())


def test_fewer_partitions_are_reported_not_grown_unless_allowed(run_script) -> None:  # type: ignore[no-untyped-def]
    topics = "torghut.decisions.v1 6 cleanup.policy=delete\n"
    reported = run_script({"torghut.decisions.v1": 3}, topics)
    assert reported.returncode == 0
    assert not reported.alters() and not reported.creates()
    assert "WARNING torghut.decisions.v1 has 3 partitions, the spec says 6" in reported.stderr
    grown = run_script({"torghut.decisions.v1": 3}, topics, TOPIC_ALTER_PARTITIONS="true")
    assert grown.returncode == 0, grown.stderr
    call = grown.alters()["torghut.decisions.v1"]
    assert call[call.index("--partitions") + 1] == "6"


def test_more_partitions_than_listed_are_kept(run_script) -> None:  # type: ignore[no-untyped-def]
    run = run_script({"torghut.decisions.v1": 12}, "torghut.decisions.v1 6\n", TOPIC_ALTER_PARTITIONS="true")
    assert run.returncode == 0
    assert not run.alters() and not run.creates()
    assert "has 12 partitions, more than the 6 listed" in run.stdout


def test_client_config_is_passed_to_every_call(run_script) -> None:  # type: ignore[no-untyped-def]
    run = run_script(KAFKA_COMMAND_CONFIG="/etc/torghut/client/client.properties")
    assert run.returncode == 0, run.stderr
    assert run.calls and all(c[2:4] == ["--command-config", "/etc/torghut/client/client.properties"]
                             for c in run.calls)


def test_a_failing_create_fails_the_job(run_script) -> None:  # type: ignore[no-untyped-def]
    run = run_script(topics="torghut.decisions.v1 3\n", STUB_EXIT="1")
    assert run.returncode != 0


def test_comments_blank_lines_and_a_missing_final_newline(run_script) -> None:  # type: ignore[no-untyped-def]
    run = run_script(topics="# header\n\ntorghut.a.v1 2 cleanup.policy=compact\n   \ntorghut.b.v1 1")
    assert run.returncode == 0, run.stderr
    assert set(run.creates()) == {"torghut.a.v1", "torghut.b.v1"}


def test_bootstrap_servers_are_required(run_script) -> None:  # type: ignore[no-untyped-def]
    run = run_script(KAFKA_BOOTSTRAP_SERVERS="")
    assert run.returncode != 0 and "KAFKA_BOOTSTRAP_SERVERS" in run.stderr

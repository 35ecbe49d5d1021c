"""The chart's topics: by default a pre-install Job creates exactly the registry's topics (its values
reach it); with Strimzi, KafkaTopic resources kept on uninstall replace the Job."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .conftest import CUSTOM_KINDS, Objects


def test_default_render_has_the_topics_job_and_no_custom_resources(rendered_objects: Objects, deploy: Any,
                                                                    generator: ModuleType) -> None:
    objects = rendered_objects("default")
    assert not [o for o in objects if o["kind"] in CUSTOM_KINDS | {"Ingress"}]
    (job,) = deploy.find(objects, "Job")
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    (topics_cm,) = [c for c in deploy.find(objects, "ConfigMap") if "topics.txt" in c["data"]]
    script = (deploy.chart / "files" / "create-topics.sh").read_text()
    assert topics_cm["data"]["create-topics.sh"].strip() == script.strip()
    listed = sorted(line for line in topics_cm["data"]["topics.txt"].splitlines() if line and line[0] != "#")
    expected = sorted(line for line in generator.render_topics_txt().splitlines() if line and line[0] != "#")
    assert listed == expected, "the Job creates exactly the registry's topics"
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TOPIC_REPLICATION_FACTOR"] == "3"


def test_topics_job_values_reach_the_job(rendered_objects: Objects, deploy: Any) -> None:
    objects = rendered_objects("topics-job-values")
    (job,) = deploy.find(objects, "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TOPIC_PREFIX"] == "sandbox.replay1."
    assert env["TOPIC_ALTER_PARTITIONS"] == "true"
    assert env["KAFKA_COMMAND_CONFIG"] == "/etc/torghut/client/client.properties"
    (topics_cm,) = [c for c in deploy.find(objects, "ConfigMap") if "topics.txt" in c["data"]]
    assert "torghut.ta.signals.v1 12 " in topics_cm["data"]["topics.txt"]


def test_strimzi_renders_kafka_topics_kept_on_uninstall(rendered_objects: Objects, deploy: Any,
                                                        generator: ModuleType) -> None:
    objects = rendered_objects("all-features-values")
    topic_jobs = [j for j in deploy.find(objects, "Job")
                  if j["metadata"]["labels"].get("app.kubernetes.io/component") == "topics"]
    assert not topic_jobs, "KafkaTopic resources replace the Job"
    kafka_topics = deploy.find(objects, "KafkaTopic")
    by_name = {t["spec"]["topicName"]: t for t in kafka_topics}
    assert set(by_name) == {name for name, _, _ in generator.topic_rows()}
    for topic in kafka_topics:
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "kafka"
        assert topic["metadata"]["namespace"] == "kafka"
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert isinstance(topic["spec"]["partitions"], int) and topic["spec"]["replicas"] == 3
        assert all(isinstance(v, str) for v in topic["spec"].get("config", {}).values())
    assert by_name["torghut.decisions.v1"]["spec"]["partitions"] == 6
    assert by_name["torghut.control.v1"]["spec"]["config"] == {"cleanup.policy": "compact"}

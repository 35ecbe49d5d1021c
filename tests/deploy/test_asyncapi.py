"""docs/asyncapi.yaml is what the services declare, and covers the topic registry (CI fails when either drifts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from torghut_contracts import topics
from torghut_runtime.asyncapi import topics_in

ROOT = Path(__file__).resolve().parents[2]


def test_the_document_is_fresh_and_covers_every_registry_topic() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts/asyncapi.py"), "--check"], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr


def test_every_channel_carries_its_topics_contract() -> None:
    document = yaml.safe_load((ROOT / "docs/asyncapi.yaml").read_text())
    found = topics_in(document)
    assert {spec.name for spec in topics.ALL_TOPICS} <= set(found)
    by_name = {spec.name: spec for spec in topics.ALL_TOPICS}
    messages = document["components"]["messages"]
    for channel in document["channels"].values():
        spec = by_name.get(channel["address"])
        if spec is None:
            assert channel["address"].endswith(topics.DLQ_SUFFIX)
            continue
        for reference in channel["messages"].values():
            payload = messages[reference["$ref"].rsplit("/", 1)[1]]["payload"]
            assert payload == {"$ref": f"#/components/schemas/{spec.model.__name__}"}, channel["address"]
    assert found["torghut.decisions.v1"] == {"send", "receive"}
    assert found["torghut.ta.signals.v1"] == {"send", "receive"}, "ta writes the signals (an outside source may too)"
    assert found["torghut.market.bars.v1"] == {"send", "receive"}

"""The ``janus-q-evidence-v1`` summary (research-lane.md §5.3) and the checks that re-derive its hashes.

The summary goes into the profitability evidence (gate6 reads it) and into the gate report's
``promotion_evidence`` (the promotion prerequisites read it, and compare each artifact's SHA-256 with
the file on disk). Evidence is complete when there are events, there are rewards, and every reward
maps to an event.
"""

from __future__ import annotations

from typing import Any

from ..canonical import sha256
from . import events, hgrm

SCHEMA = "janus-q-evidence-v1"
HASH_MISMATCH = "janus_q_evidence_hash_mismatch"


def evidence_summary(event_car: dict[str, Any], reward: dict[str, Any], *, event_car_sha256: str,
                     reward_sha256: str, event_car_ref: str = events.ARTIFACT,
                     reward_ref: str = hgrm.ARTIFACT) -> dict[str, Any]:
    event_count = int(event_car["summary"]["event_count"])
    rewards = reward["summary"]
    reasons = []
    if event_count <= 0:
        reasons.append("janus_event_count_missing")
    if rewards["reward_count"] <= 0:
        reasons.append("janus_reward_count_missing")
    if rewards["event_mapped_count"] < rewards["reward_count"]:
        reasons.append("janus_reward_event_mapping_incomplete")
    return {
        "schema_version": SCHEMA, "source": "measured", "evidence_complete": not reasons, "reasons": reasons,
        "event_car": {"schema_version": event_car["schema_version"], "event_count": event_count,
                      "strong_event_count": event_car["summary"]["strong_event_count"],
                      "event_window_bars": event_car["methodology"]["event_window_bars"],
                      "manifest_hash": event_car["manifest_hash"], "artifact_ref": event_car_ref,
                      "artifact_sha256": event_car_sha256},
        "hgrm_reward": {"schema_version": reward["schema_version"], "reward_count": rewards["reward_count"],
                        "event_mapped_count": rewards["event_mapped_count"],
                        "hard_gate_fail_count": rewards["hard_gate_fail_count"],
                        "direction_gate_pass_ratio": rewards["direction_gate_pass_ratio"],
                        "mean_final_reward": rewards["mean_final_reward"],
                        "manifest_hash": reward["manifest_hash"], "artifact_ref": reward_ref,
                        "artifact_sha256": reward_sha256},
    }


def promotion_evidence(summary: dict[str, Any]) -> dict[str, Any]:
    """The gate report's ``promotion_evidence.janus_q`` (§5.4), with the hashes the prerequisites check."""
    part = {"event_car": ("event_count", summary["event_car"]), "hgrm_reward": ("reward_count", summary["hgrm_reward"])}
    return {**{name: {"count": body[key], "artifact_ref": body["artifact_ref"],
                      "artifact_sha256": body["artifact_sha256"], "manifest_hash": body["manifest_hash"]}
               for name, (key, body) in part.items()},
            "evidence_complete": summary["evidence_complete"], "reasons": summary["reasons"]}


def recomputed_manifest_hash(kind: str, body: dict[str, Any]) -> str | None:
    """The artifact's ``manifest_hash`` recomputed from its content (None when the body lacks the parts)."""
    try:
        return events.manifest_hash(body) if kind == "event_car" else hgrm.manifest_hash(body)
    except (KeyError, TypeError):
        return None


def hash_mismatches(kind: str, data: bytes, body: dict[str, Any], reference: dict[str, Any] | None) -> list[str]:
    """Which of the artifact's hashes disagree: its file's SHA-256 with the gate report's reference, and
    its ``manifest_hash`` with its own content and with the reference."""
    found = []
    reference = reference or {}
    if reference.get("artifact_sha256") != sha256(data):
        found.append("artifact_sha256")
    recomputed = recomputed_manifest_hash(kind, body)
    if recomputed is None or body.get("manifest_hash") != recomputed:
        found.append("manifest_hash_content")
    if reference.get("manifest_hash") != body.get("manifest_hash"):
        found.append("manifest_hash_reference")
    return found

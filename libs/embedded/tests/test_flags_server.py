"""The embedded Flipt-compatible flag server: Flipt's evaluation API, rollouts, namespaces, auth, reloads.

Protocol fidelity is checked with independent clients: the ``flipt`` PyPI SDK (``/evaluate/v1/*``)
here, and the OpenFeature Flipt provider (OFREP) in libs/runtime/tests/test_flags.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from torghut_embedded.flags_server import (
    FeaturesFileError,
    FlagsServer,
    load_features,
    parse_features,
    threshold_bucket,
)

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[3]

BASIC = """
namespace: default
flags:
  - key: on_flag
    name: Always on
    type: BOOLEAN_FLAG_TYPE
    enabled: true
  - key: off_flag
    type: BOOLEAN_FLAG_TYPE
    enabled: false
---
namespace: other
flags:
  - key: on_flag
    type: BOOLEAN_FLAG_TYPE
    enabled: false
"""

SEGMENTS = """
namespace: default
segments:
  - key: us-paper
    match_type: ALL_MATCH_TYPE
    constraints:
      - {type: STRING_COMPARISON_TYPE, property: region, operator: eq, value: us}
      - {type: STRING_COMPARISON_TYPE, property: account, operator: prefix, value: paper-}
  - key: big
    match_type: ANY_MATCH_TYPE
    constraints:
      - {type: NUMBER_COMPARISON_TYPE, property: equity, operator: gte, value: "1000000"}
      - {type: STRING_COMPARISON_TYPE, property: tier, operator: isoneof, value: '["gold", "platinum"]'}
  - key: everyone
flags:
  - key: seg_or
    type: BOOLEAN_FLAG_TYPE
    enabled: false
    rollouts:
      - segment: {keys: [us-paper, big], operator: OR_SEGMENT_OPERATOR, value: true}
  - key: seg_and
    type: BOOLEAN_FLAG_TYPE
    enabled: false
    rollouts:
      - segment: {keys: [us-paper, big], operator: AND_SEGMENT_OPERATOR, value: true}
  - key: rank_segment_first
    type: BOOLEAN_FLAG_TYPE
    enabled: true
    rollouts:
      - segment: {key: us-paper, value: false}
      - segment: {key: everyone, value: true}
  - key: rank_catch_all_first
    type: BOOLEAN_FLAG_TYPE
    enabled: true
    rollouts:
      - segment: {key: everyone, value: true}
      - segment: {key: us-paper, value: false}
"""


def _post(server: FlagsServer, path: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers=headers, timeout=5)


def _boolean(server: FlagsServer, flag: str, entity: str = "e1", namespace: str = "default",
             **context: str) -> httpx.Response:
    return _post(server, "/evaluate/v1/boolean",
                 {"namespaceKey": namespace, "flagKey": flag, "entityId": entity, "context": context})


def test_boolean_evaluation_has_flipts_shape(flags_server: FlagsServer) -> None:
    flags_server.write(BASIC)
    r = _boolean(flags_server, "on_flag")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"enabled", "reason", "requestId", "requestDurationMillis", "timestamp", "flagKey",
                         "segmentKeys"}
    assert (body["enabled"], body["reason"], body["flagKey"], body["segmentKeys"]) == (
        True, "DEFAULT_EVALUATION_REASON", "on_flag", [])
    assert body["timestamp"].endswith("Z") and body["requestId"]
    # protojson accepts the proto's snake_case names too, and null for an absent scalar
    snake = _post(flags_server, "/evaluate/v1/boolean",
                  {"namespace_key": "default", "flag_key": "off_flag", "entity_id": "e1", "context": {},
                   "reference": None})
    assert snake.json()["enabled"] is False
    # no namespace means "default"
    assert _post(flags_server, "/evaluate/v1/boolean", {"flagKey": "on_flag", "entityId": "e"}).json()["enabled"]


def test_unknown_flag_is_404_and_bad_requests_are_400(flags_server: FlagsServer) -> None:
    flags_server.write(BASIC)
    r = _boolean(flags_server, "nope")
    assert r.status_code == 404
    assert r.json() == {"code": 5, "message": 'flag "default/nope" not found', "details": []}
    assert _boolean(flags_server, "on_flag", namespace="missing-ns").status_code == 404
    assert _post(flags_server, "/evaluate/v1/boolean", {"entityId": "e"}).status_code == 400
    assert _post(flags_server, "/evaluate/v1/boolean", {"flagKey": "on_flag"}).status_code == 400
    bad_context = _post(flags_server, "/evaluate/v1/boolean", {"flagKey": "on_flag", "entityId": "e",
                                                                "context": {"n": 1}})
    assert bad_context.status_code == 400 and bad_context.json()["code"] == 3


def test_namespaces_are_separate(flags_server: FlagsServer) -> None:
    flags_server.write(BASIC)
    assert _boolean(flags_server, "on_flag").json()["enabled"] is True
    assert _boolean(flags_server, "on_flag", namespace="other").json()["enabled"] is False
    assert _boolean(flags_server, "off_flag", namespace="other").status_code == 404


def test_threshold_rollouts_use_flipts_bucket_and_rank_order(flags_server: FlagsServer) -> None:
    entity, key = "entity-42", "pct"
    bucket = threshold_bucket(entity, key)
    assert bucket == __import__("zlib").crc32(b"entity-42pct") % 100

    def flag(*rollouts: str) -> str:
        lines = "".join(f"      - {r}\n" for r in rollouts)
        return f"namespace: default\nflags:\n  - key: {key}\n    type: BOOLEAN_FLAG_TYPE\n    enabled: false\n" \
               f"    rollouts:\n{lines}"

    # percentage just above the bucket matches; exactly the bucket does not (strict <)
    flags_server.write(flag(f"threshold: {{percentage: {bucket + 1}, value: true}}"))
    hit = _boolean(flags_server, key, entity).json()
    assert (hit["enabled"], hit["reason"]) == (True, "MATCH_EVALUATION_REASON")
    flags_server.write(flag(f"threshold: {{percentage: {bucket}, value: true}}"))
    miss = _boolean(flags_server, key, entity).json()
    assert (miss["enabled"], miss["reason"]) == (False, "DEFAULT_EVALUATION_REASON")
    # first matching rollout in rank order wins
    flags_server.write(flag("threshold: {percentage: 100, value: false}", "threshold: {percentage: 100, value: true}"))
    assert _boolean(flags_server, key, entity).json()["enabled"] is False
    flags_server.write(flag(f"threshold: {{percentage: {bucket}, value: false}}",
                            "threshold: {percentage: 100, value: true}"))
    assert _boolean(flags_server, key, entity).json()["enabled"] is True
    # the bucket is per entity: over many entities a 30 % rollout hits about 30 %
    flags_server.write(flag("threshold: {percentage: 30, value: true}"))
    batch = _post(flags_server, "/evaluate/v1/batch", {"requests": [
        {"flagKey": key, "entityId": f"user-{i}", "context": {}} for i in range(200)]}).json()
    hits = sum(r["booleanResponse"]["enabled"] for r in batch["responses"])
    assert hits == sum(threshold_bucket(f"user-{i}", key) < 30 for i in range(200))
    assert 30 <= hits <= 90


def test_segment_rollouts_match_context_with_operators_and_rank(flags_server: FlagsServer) -> None:
    flags_server.write(SEGMENTS)
    us_paper = {"region": "us", "account": "paper-main"}
    r = _boolean(flags_server, "seg_or", **us_paper).json()
    assert (r["enabled"], r["reason"], r["segmentKeys"]) == (True, "MATCH_EVALUATION_REASON", ["us-paper"])
    assert _boolean(flags_server, "seg_or", region="us", account="live-1").json()["enabled"] is False
    assert _boolean(flags_server, "seg_or", tier="gold").json()["segmentKeys"] == ["big"]
    assert _boolean(flags_server, "seg_or", equity="999999.5").json()["enabled"] is False
    # AND needs every segment
    assert _boolean(flags_server, "seg_and", **us_paper).json()["enabled"] is False
    both = _boolean(flags_server, "seg_and", **us_paper, equity="2000000").json()
    assert (both["enabled"], sorted(both["segmentKeys"])) == (True, ["big", "us-paper"])
    # rank order: the first matching rollout wins, later ones are not looked at
    assert _boolean(flags_server, "rank_segment_first", **us_paper).json()["enabled"] is False
    assert _boolean(flags_server, "rank_segment_first", region="eu").json()["enabled"] is True
    assert _boolean(flags_server, "rank_catch_all_first", **us_paper).json()["enabled"] is True


def test_batch_answers_each_request_and_reports_unknown_flags(flags_server: FlagsServer) -> None:
    flags_server.write(BASIC)
    r = _post(flags_server, "/evaluate/v1/batch", {"requests": [
        {"namespaceKey": "default", "flagKey": "on_flag", "entityId": "e", "context": {}},
        {"namespaceKey": "default", "flagKey": "nope", "entityId": "e", "context": {}},
        {"namespaceKey": "other", "flagKey": "on_flag", "entityId": "e", "context": {}},
    ]})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"requestId", "responses", "requestDurationMillis"}
    types = [x["type"] for x in body["responses"]]
    assert types == ["BOOLEAN_EVALUATION_RESPONSE_TYPE", "ERROR_EVALUATION_RESPONSE_TYPE",
                     "BOOLEAN_EVALUATION_RESPONSE_TYPE"]
    assert body["responses"][0]["booleanResponse"]["enabled"] is True
    assert body["responses"][1]["errorResponse"] == {"flagKey": "nope", "namespaceKey": "default",
                                                     "reason": "NOT_FOUND_ERROR_EVALUATION_REASON"}
    assert body["responses"][2]["booleanResponse"]["enabled"] is False


def test_ofrep_single_and_bulk(flags_server: FlagsServer) -> None:
    flags_server.write(BASIC + "\n" + "")
    r = _post(flags_server, "/ofrep/v1/evaluate/flags/on_flag", {"context": {"targetingKey": "e1"}})
    assert r.json() == {"key": "on_flag", "reason": "DEFAULT", "variant": "true", "value": True, "metadata": {}}
    other = _post(flags_server, "/ofrep/v1/evaluate/flags/on_flag", {"context": {"targetingKey": "e1"}},
                  **{"X-Flipt-Namespace": "other"})
    assert other.json()["value"] is False
    missing = _post(flags_server, "/ofrep/v1/evaluate/flags/nope", {"context": {"targetingKey": "e1"}})
    assert missing.status_code == 404 and missing.json()["errorCode"] == "FLAG_NOT_FOUND"
    flags_server.write(SEGMENTS)
    matched = _post(flags_server, "/ofrep/v1/evaluate/flags/seg_or",
                    {"context": {"targetingKey": "e1", "equity": 5_000_000}}).json()
    assert (matched["value"], matched["reason"]) == (True, "TARGETING_MATCH")
    bulk = _post(flags_server, "/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "e1"}}).json()
    assert [f["key"] for f in bulk["flags"]] == ["seg_or", "seg_and", "rank_segment_first", "rank_catch_all_first"]


def test_bearer_auth_guards_evaluation_not_health(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text(BASIC)
    with FlagsServer([path], tokens=["s3cret"]) as server:
        denied = _boolean(server, "on_flag")
        assert denied.status_code == 401 and denied.json()["code"] == 16
        assert _post(server, "/ofrep/v1/evaluate/flags/on_flag", {}).status_code == 401
        assert _post(server, "/evaluate/v1/boolean", {"flagKey": "on_flag", "entityId": "e"},
                     Authorization="Bearer wrong").status_code == 401
        ok = _post(server, "/evaluate/v1/boolean", {"flagKey": "on_flag", "entityId": "e"},
                   Authorization="Bearer s3cret")
        assert ok.status_code == 200 and ok.json()["enabled"] is True
        assert httpx.get(server.url + "/health").json() == {"status": "SERVING"}


def test_file_changes_are_picked_up_and_a_bad_edit_keeps_the_last_good_file(flags_server: FlagsServer) -> None:
    path = flags_server.store.paths[0]
    path.write_text(BASIC)
    deadline = time.monotonic() + 10
    while _boolean(flags_server, "on_flag").status_code != 200:  # plain edit on disk, no explicit reload
        assert time.monotonic() < deadline, "the edited file was not picked up"
        time.sleep(0.02)
    path.write_text(BASIC.replace("enabled: true", "enabled: maybe", 1) + "\n# broken\n")
    deadline = time.monotonic() + 10
    while flags_server.store.last_error is None:
        _boolean(flags_server, "on_flag")
        assert time.monotonic() < deadline, "the broken edit was not noticed"
        time.sleep(0.02)
    assert "on_flag" in flags_server.store.last_error
    assert _boolean(flags_server, "on_flag").json()["enabled"] is True  # the last good file stays in force


@pytest.mark.parametrize(("text", "names"), [
    ("flags:\n  - {key: a, type: BOOLEAN_FLAG_TYPE}\n  - {key: a, type: BOOLEAN_FLAG_TYPE}\n",
     ["flag 'a'", "duplicate flag key"]),
    ("flags:\n  - {key: b, type: VARIANT_FLAG_TYPE}\n", ["flag 'b'", "type must be BOOLEAN_FLAG_TYPE"]),
    ("flags:\n  - {key: c, enabled: true}\n", ["flag 'c'", "type must be"]),
    ("flags:\n  - {key: d, type: BOOLEAN_FLAG_TYPE, enabled: 'yes please'}\n", ["flag 'd'", "enabled must be"]),
    ("flags:\n  - {key: e, type: BOOLEAN_FLAG_TYPE, enabeld: true}\n", ["flag 'e'", "enabeld"]),
    ("flags:\n  - key: f\n    type: BOOLEAN_FLAG_TYPE\n    rollouts:\n      - segment: {key: ghost, value: true}\n",
     ["flag 'f' rollout 1", "ghost"]),
    ("flags:\n  - key: g\n    type: BOOLEAN_FLAG_TYPE\n    rollouts:\n      - threshold: {percentage: 140}\n",
     ["flag 'g' rollout 1", "percentage"]),
    ("segments:\n  - key: s\n    constraints:\n      - {type: STRING_COMPARISON_TYPE, property: p, operator: gt}\n",
     ["segment 's'", "operator 'gt'"]),
])
def test_bad_files_fail_naming_the_key(text: str, names: list[str]) -> None:
    with pytest.raises(FeaturesFileError) as err:
        parse_features("namespace: default\n" + text, "features.yaml")
    for name in names:
        assert name in str(err.value)


def test_a_bad_file_stops_the_server_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text("flags:\n  - {key: dup, type: BOOLEAN_FLAG_TYPE}\n  - {key: dup, type: BOOLEAN_FLAG_TYPE}\n")
    with pytest.raises(FeaturesFileError, match="flag 'dup': duplicate flag key"):
        FlagsServer([path])
    out = subprocess.run([sys.executable, "-m", "torghut_embedded.flags_server", "--file", str(path), "--port", "0"],
                         capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 2 and "flag 'dup': duplicate flag key" in out.stderr


def test_the_repository_inventory_parses() -> None:
    namespaces = load_features([REPO / "deploy" / "flags" / "features.yaml"])
    assert list(namespaces) == ["default"]
    assert all(f.type == "BOOLEAN_FLAG_TYPE" for f in namespaces["default"].flags.values())


def test_the_flipt_sdk_talks_to_it(tmp_path: Path) -> None:
    from flipt import FliptClient
    from flipt.authentication import ClientTokenAuthentication
    from flipt.evaluation import BatchEvaluationRequest, EvaluationReason, EvaluationRequest, EvaluationResponseType
    from flipt.exceptions import FliptApiError

    path = tmp_path / "features.yaml"
    path.write_text(SEGMENTS + "---\n" + BASIC.split("---")[1])
    with FlagsServer([path], tokens=["tok"]) as server:
        client = FliptClient(url=server.url, authentication=ClientTokenAuthentication("tok"), timeout=5)
        try:
            hit = client.evaluation.boolean(EvaluationRequest(
                namespace_key="default", flag_key="seg_or", entity_id="acct-1",
                context={"region": "us", "account": "paper-x"}))
            assert (hit.enabled, hit.reason, hit.segment_keys) == (True, EvaluationReason.MATCH_EVALUATION_REASON,
                                                                   ["us-paper"])
            other = client.evaluation.boolean(EvaluationRequest(namespace_key="other", flag_key="on_flag",
                                                                entity_id="acct-1", context={}))
            assert (other.enabled, other.reason) == (False, EvaluationReason.DEFAULT_EVALUATION_REASON)
            with pytest.raises(FliptApiError) as missing:
                client.evaluation.boolean(EvaluationRequest(flag_key="nope", entity_id="e", context={}))
            assert missing.value.status_code == 404
            batch = client.evaluation.batch(BatchEvaluationRequest(requests=[
                EvaluationRequest(flag_key="rank_segment_first", entity_id="e", context={"region": "eu"}),
                EvaluationRequest(flag_key="nope", entity_id="e", context={}),
            ]))
            assert [r.type for r in batch.responses] == [EvaluationResponseType.BOOLEAN_EVALUATION_RESPONSE_TYPE,
                                                         EvaluationResponseType.ERROR_EVALUATION_RESPONSE_TYPE]
            assert batch.responses[0].boolean_response is not None
            assert batch.responses[0].boolean_response.enabled is True
        finally:
            client.close()
        anonymous = FliptClient(url=server.url, timeout=5)
        try:
            with pytest.raises(FliptApiError) as denied:
                anonymous.evaluation.boolean(EvaluationRequest(flag_key="seg_or", entity_id="e", context={}))
            assert denied.value.status_code == 401
        finally:
            anonymous.close()

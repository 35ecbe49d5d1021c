"""The embedded Flipt-compatible flag server: Flipt's evaluation API (``/evaluate/v1/*``).

Flipt's response shape, 404 and 400 answers, separate namespaces, threshold rollouts on Flipt's
bucket in rank order, segment rollouts matching the context, and batches.
"""

from __future__ import annotations

import pytest
from torghut_embedded.flags_server import FlagsServer, threshold_bucket

from .conftest import BASIC, SEGMENTS, _boolean, _post

pytestmark = pytest.mark.timeout(60)


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

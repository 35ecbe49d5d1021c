"""The embedded flag server to its clients: OFREP (single and bulk), bearer auth guarding evaluation
but not health, and the ``flipt`` PyPI SDK as an independent client of ``/evaluate/v1/*`` (the
OpenFeature Flipt provider is the one in libs/runtime/tests/test_flags_*.py).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from torghut_embedded.flags_server import FlagsServer

from .conftest import BASIC, SEGMENTS, _boolean, _post

pytestmark = pytest.mark.timeout(60)


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

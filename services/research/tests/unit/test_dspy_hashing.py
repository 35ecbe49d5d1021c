"""Canonical JSON and the six DSPy hashes, checked against canonical strings written out by hand."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from torghut_research.dspy.hashing import CanonicalJsonError, canonical_bytes, canonical_json, hash_payload
from torghut_research.dspy.schemas import DSPyCompileResult
from torghut_research.dspy.workflow import (
    build_compile_result,
    build_eval_report,
    build_promotion_record,
    bundle_artifacts,
    recompute_artifact_hash,
)

CREATED = datetime(2026, 2, 12, 21, 0, tzinfo=UTC)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def compile_result() -> DSPyCompileResult:
    return build_compile_result(
        program_name="trade-review", signature_versions={"TradeReview": "v1"}, optimizer="miprov2",
        dataset_payload={"rows": [{"id": "r1", "label": "veto"}]}, metric_bundle={"score": 0.9},
        compiled_prompt_payload={"instructions": "Review the intent.", "demos": []},
        compiled_artifact_uri="artifact:///compiled-program.json", seed=7, created_at=CREATED)


# -- canonical JSON -------------------------------------------------------------------------------

def test_keys_are_sorted_without_spaces_and_non_ascii_is_escaped() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é"], "A": {"y": "x", "x": "y"}}) == \
        '{"A":{"x":"y","y":"x"},"a":[true,null,"\\u00e9"],"b":1}'
    assert canonical_bytes({"a": 1}) == b'{"a":1}\n'
    assert hash_payload({"a": 1}) == sha('{"a":1}')


@pytest.mark.parametrize(("value", "text"), [
    (0.995, "0.995"), (1.0, "1.0"), (0.1 + 0.2, "0.30000000000000004"), (1e-05, "0.00001"),
    (1.5e-7, "0.00000015"), (1e16, "10000000000000000.0"), (-2.5e20, "-250000000000000000000.0"),
    (-0.0, "0.0"), (0.0, "0.0"), (1800, "1800"), (10**30, "1000000000000000000000000000000"),
    (Decimal("0.9950"), "0.995"), (Decimal("2"), "2.0"), (Decimal("1E+2"), "100.0"), (Decimal("-0.00"), "0.0"),
    (Decimal("0.1000000000000000000001"), "0.1000000000000000000001"),
])
def test_numbers_are_positional_and_deterministic(value: object, text: str) -> None:
    assert canonical_json(value) == text


def test_a_decimal_and_the_float_it_names_hash_the_same() -> None:
    assert hash_payload({"rate": Decimal("0.995")}) == hash_payload({"rate": 0.995})


def test_datetimes_are_utc_with_z() -> None:
    moment = datetime(2026, 2, 12, 22, 0, tzinfo=timezone(timedelta(hours=1)))
    assert canonical_json({"at": moment}) == '{"at":"2026-02-12T21:00:00Z"}'


@pytest.mark.parametrize(("value", "where"), [
    ({"a": float("nan")}, "$.a"), ({"a": [1, float("inf")]}, "$.a[1]"), ({"a": Decimal("NaN")}, "$.a"),
    ({1: "x"}, "$"), ({"s": {1, 2}}, "$.s"), ({"t": datetime(2026, 1, 1)}, "$.t"), ({"b": b"x"}, "$.b"),
])
def test_values_without_a_canonical_form_are_refused(value: object, where: str) -> None:
    with pytest.raises(CanonicalJsonError, match="^" + re.escape(where + ":")):
        canonical_json(value)


# -- the six hashes and the manifest ----------------------------------------------------------------

def test_the_six_hashes_match_hand_written_canonical_json() -> None:
    result = compile_result()
    dataset = sha('{"rows":[{"id":"r1","label":"veto"}]}')
    prompt = sha('{"demos":[],"instructions":"Review the intent."}')
    reproducibility = sha(
        '{"compiled_prompt_hash":"' + prompt + '","dataset_hash":"' + dataset + '","metric_bundle":{"score":0.9},'
        '"optimizer":"miprov2","program_name":"trade-review","seed":7,"signature_versions":{"TradeReview":"v1"}}')
    artifact = sha(
        '{"compiled_artifact_uri":"artifact:///compiled-program.json","compiled_prompt_hash":"' + prompt + '",'
        '"dataset_hash":"' + dataset + '","optimizer":"miprov2","program_name":"trade-review",'
        '"reproducibility_hash":"' + reproducibility + '","signature_versions":{"TradeReview":"v1"}}')
    assert (result.dataset_hash, result.compiled_prompt_hash, result.reproducibility_hash, result.artifact_hash) == (
        dataset, prompt, reproducibility, artifact)
    assert recompute_artifact_hash(result) == artifact

    report = build_eval_report(
        compile_result=result, schema_valid_rate=0.998, veto_alignment_rate=0.9, false_veto_rate=0.01,
        latency_p95_ms=1200, gate_compatibility="pass", promotion_recommendation="shadow",
        metric_bundle={"note": "x"}, created_at=CREATED)
    evaluation = sha(
        '{"artifact_hash":"' + artifact + '","false_veto_rate":0.01,"gate_compatibility":"pass",'
        '"latency_p95_ms":1200,"metric_bundle":{"note":"x"},"promotion_recommendation":"shadow",'
        '"schema_valid_rate":0.998,"veto_alignment_rate":0.9}')
    assert report.eval_hash == evaluation

    record = build_promotion_record(eval_report=report, promotion_target="shadow", approved=True,
                                    approval_token_ref="ticket-1", promoted_by="ops", reasons=[], created_at=CREATED)
    promotion = sha(
        '{"approval_token_ref":"ticket-1","approved":true,"artifact_hash":"' + artifact + '","eval_hash":"'
        + evaluation + '","promoted_by":"ops","promotion_target":"shadow"}')
    assert record.promotion_hash == promotion

    compile_dump = (
        '{"artifactHash":"' + artifact + '","compiledArtifactUri":"artifact:///compiled-program.json",'
        '"compiledPromptHash":"' + prompt + '","createdAt":"2026-02-12T21:00:00Z","datasetHash":"' + dataset + '",'
        '"metricBundle":{"score":0.9},"optimizer":"miprov2","programName":"trade-review",'
        '"reproducibilityHash":"' + reproducibility + '","signatureVersions":{"TradeReview":"v1"}}')
    eval_dump = (
        '{"artifactHash":"' + artifact + '","createdAt":"2026-02-12T21:00:00Z","evalHash":"' + evaluation + '",'
        '"falseVetoRate":0.01,"gateCompatibility":"pass","latencyP95Ms":1200,"metricBundle":{"note":"x"},'
        '"promotionRecommendation":"shadow","schemaValidRate":0.998,"vetoAlignmentRate":0.9}')
    record_dump = (
        '{"approvalTokenRef":"ticket-1","approved":true,"artifactHash":"' + artifact + '",'
        '"createdAt":"2026-02-12T21:00:00Z","evalHash":"' + evaluation + '","promotedBy":"ops",'
        '"promotionHash":"' + promotion + '","promotionTarget":"shadow","reasons":[]}')
    assert canonical_json(result.dump()) == compile_dump
    assert canonical_json(report.dump()) == eval_dump
    assert canonical_json(record.dump()) == record_dump
    bundle = bundle_artifacts(result, report, record)
    hashes = {"compile_result": sha(compile_dump), "eval_report": sha(eval_dump), "promotion_record": sha(record_dump)}
    assert bundle.artifact_hashes == hashes
    assert bundle.manifest_hash == sha(
        '{"compile_result":"' + hashes["compile_result"] + '","eval_report":"' + hashes["eval_report"]
        + '","promotion_record":"' + hashes["promotion_record"] + '"}')
    assert bundle_artifacts(result, report).manifest_hash == sha(
        '{"compile_result":"' + hashes["compile_result"] + '","eval_report":"' + hashes["eval_report"] + '"}')


def test_created_at_is_not_hashed_but_the_seed_and_metrics_are() -> None:
    base = compile_result()
    later = build_compile_result(
        program_name="trade-review", signature_versions={"TradeReview": "v1"}, optimizer="miprov2",
        dataset_payload={"rows": [{"id": "r1", "label": "veto"}]}, metric_bundle={"score": 0.9},
        compiled_prompt_payload={"instructions": "Review the intent.", "demos": []},
        compiled_artifact_uri="artifact:///compiled-program.json", seed=7, created_at=CREATED + timedelta(days=1))
    assert later.artifact_hash == base.artifact_hash
    other_seed = build_compile_result(
        program_name="trade-review", signature_versions={"TradeReview": "v1"}, optimizer="miprov2",
        dataset_payload={"rows": [{"id": "r1", "label": "veto"}]}, metric_bundle={"score": Decimal("0.9")},
        compiled_prompt_payload={"instructions": "Review the intent.", "demos": []},
        compiled_artifact_uri="artifact:///compiled-program.json", seed=8, created_at=CREATED)
    assert other_seed.reproducibility_hash != base.reproducibility_hash
    assert other_seed.metric_bundle == {"score": 0.9}  # stored as it was hashed


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "a" * 63, "", None])
def test_hashes_must_be_sha256_hex(bad: object) -> None:
    dump = compile_result().dump()
    with pytest.raises(ValueError, match="hash_must_be_sha256_hex"):
        DSPyCompileResult.model_validate({**dump, "datasetHash": bad})


def test_hashes_are_stripped_and_lower_cased_and_extra_fields_are_refused() -> None:
    dump = compile_result().dump()
    upper = DSPyCompileResult.model_validate({**dump, "datasetHash": "  " + dump["datasetHash"].upper() + " "})
    assert upper.dataset_hash == dump["datasetHash"]
    with pytest.raises(ValueError, match="extra"):
        DSPyCompileResult.model_validate({**dump, "surprise": 1})
    with pytest.raises(ValueError, match="createdAt"):
        DSPyCompileResult.model_validate({k: v for k, v in dump.items() if k != "createdAt"})

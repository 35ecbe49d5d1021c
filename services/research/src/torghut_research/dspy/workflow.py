"""Builders of the DSPy records and their hash chain (research-lane.md §4.3), and the artifact bundle on disk.

The six hashes, with upstream's definitions (snake_case keys inside each hashed object)::

    dataset_hash         = H(dataset_payload)
    compiled_prompt_hash = H(compiled_prompt_payload)
    reproducibility_hash = H({program_name, signature_versions, optimizer, dataset_hash,
                              compiled_prompt_hash, seed, metric_bundle})
    artifact_hash        = H({program_name, signature_versions, optimizer, dataset_hash,
                              compiled_prompt_hash, compiled_artifact_uri, reproducibility_hash})
    eval_hash            = H({artifact_hash, schema_valid_rate, veto_alignment_rate, false_veto_rate,
                              latency_p95_ms, gate_compatibility, promotion_recommendation, metric_bundle})
    promotion_hash       = H({artifact_hash, eval_hash, promotion_target, approved,
                              approval_token_ref, promoted_by})

and the bundle's ``manifestHash`` = H(artifactHashes), where ``artifactHashes`` maps
``compile_result``, ``eval_report`` and (when there is one) ``promotion_record`` to H of the
record's camelCase JSON dump. H is :func:`.hashing.hash_payload`. ``createdAt`` is in no record
hash, but it is in the dumps, so the manifest is stable because ``created_at`` is always passed in.

Metric bundles are normalised through canonical JSON before they are stored or hashed (a Decimal
becomes the float it names, a datetime its ``Z`` string), so the record holds, writes and reads
back exactly what was hashed.

``compiled_artifact_uri`` is hashed as given (seed behaviour). The caller (``dspy compile``) should
pass a location that does not depend on the machine, such as an object-store URI or
``artifact:///<file name>``, or the artifact hash changes with the working directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..artifacts import RunDirectory
from .hashing import canonical_bytes, canonical_json, hash_payload
from .schemas import DSPyArtifactBundle, DSPyCompileResult, DSPyEvalReport, DSPyPromotionRecord

COMPILE_RESULT_FILE = "dspy-compile-result.json"
EVAL_REPORT_FILE = "dspy-eval-report.json"
PROMOTION_RECORD_FILE = "dspy-promotion-record.json"
BUNDLE_FILE = "dspy-bundle.json"


def normalise(payload: Any) -> Any:
    """``payload`` as the JSON values its canonical form reads back as."""
    return json.loads(canonical_json(payload))


# -- the hashed objects ---------------------------------------------------------------------------

def reproducibility_hash(*, program_name: str, signature_versions: Mapping[str, str], optimizer: str,
                         dataset_hash: str, compiled_prompt_hash: str, seed: int | str | None,
                         metric_bundle: Mapping[str, Any]) -> str:
    return hash_payload({"program_name": program_name, "signature_versions": dict(signature_versions),
                         "optimizer": optimizer, "dataset_hash": dataset_hash,
                         "compiled_prompt_hash": compiled_prompt_hash, "seed": seed,
                         "metric_bundle": dict(metric_bundle)})


def artifact_hash(*, program_name: str, signature_versions: Mapping[str, str], optimizer: str, dataset_hash: str,
                  compiled_prompt_hash: str, compiled_artifact_uri: str, reproducibility_hash: str) -> str:
    return hash_payload({"program_name": program_name, "signature_versions": dict(signature_versions),
                         "optimizer": optimizer, "dataset_hash": dataset_hash,
                         "compiled_prompt_hash": compiled_prompt_hash, "compiled_artifact_uri": compiled_artifact_uri,
                         "reproducibility_hash": reproducibility_hash})


def recompute_artifact_hash(result: DSPyCompileResult) -> str:
    """The artifact hash the compile result's own fields give; differs from ``artifact_hash`` if it was edited."""
    return artifact_hash(program_name=result.program_name, signature_versions=result.signature_versions,
                         optimizer=result.optimizer, dataset_hash=result.dataset_hash,
                         compiled_prompt_hash=result.compiled_prompt_hash,
                         compiled_artifact_uri=result.compiled_artifact_uri,
                         reproducibility_hash=result.reproducibility_hash)


def eval_hash(*, artifact_hash: str, schema_valid_rate: float | None, veto_alignment_rate: float | None,
              false_veto_rate: float | None, latency_p95_ms: int | None, gate_compatibility: str,
              promotion_recommendation: str, metric_bundle: Mapping[str, Any]) -> str:
    return hash_payload({"artifact_hash": artifact_hash, "schema_valid_rate": schema_valid_rate,
                         "veto_alignment_rate": veto_alignment_rate, "false_veto_rate": false_veto_rate,
                         "latency_p95_ms": latency_p95_ms, "gate_compatibility": gate_compatibility,
                         "promotion_recommendation": promotion_recommendation,
                         "metric_bundle": dict(metric_bundle)})


def recompute_eval_hash(report: DSPyEvalReport) -> str:
    return eval_hash(artifact_hash=report.artifact_hash, schema_valid_rate=report.schema_valid_rate,
                     veto_alignment_rate=report.veto_alignment_rate, false_veto_rate=report.false_veto_rate,
                     latency_p95_ms=report.latency_p95_ms, gate_compatibility=report.gate_compatibility,
                     promotion_recommendation=report.promotion_recommendation, metric_bundle=report.metric_bundle)


def promotion_hash(*, artifact_hash: str, eval_hash: str, promotion_target: str, approved: bool,
                   approval_token_ref: str | None, promoted_by: str | None) -> str:
    return hash_payload({"artifact_hash": artifact_hash, "eval_hash": eval_hash, "promotion_target": promotion_target,
                         "approved": approved, "approval_token_ref": approval_token_ref, "promoted_by": promoted_by})


def recompute_promotion_hash(record: DSPyPromotionRecord) -> str:
    return promotion_hash(artifact_hash=record.artifact_hash, eval_hash=record.eval_hash,
                          promotion_target=record.promotion_target, approved=record.approved,
                          approval_token_ref=record.approval_token_ref, promoted_by=record.promoted_by)


# -- builders -------------------------------------------------------------------------------------

def build_compile_result(*, program_name: str, signature_versions: Mapping[str, str], optimizer: str,
                         dataset_payload: Any, metric_bundle: Mapping[str, Any], compiled_prompt_payload: Any,
                         compiled_artifact_uri: str, seed: int | str | None,
                         created_at: datetime, dataset_hash: str | None = None) -> DSPyCompileResult:
    """The compile result of one optimiser run, with its dataset, prompt, reproducibility and artifact hashes.

    ``dataset_payload`` and ``compiled_prompt_payload`` are only hashed, never stored: any value with
    a canonical JSON form (:mod:`.hashing`). ``seed`` goes into the reproducibility hash only.
    ``dataset_hash``, when given, must be ``hash_payload(dataset_payload)`` computed by the caller (a
    large data set hashed piecewise); it is then used as is.
    """
    bundle = normalise(dict(metric_bundle))
    versions = dict(signature_versions)
    dataset = dataset_hash if dataset_hash is not None else hash_payload(dataset_payload)
    prompt = hash_payload(compiled_prompt_payload)
    reproducibility = reproducibility_hash(
        program_name=program_name, signature_versions=versions, optimizer=optimizer, dataset_hash=dataset,
        compiled_prompt_hash=prompt, seed=seed, metric_bundle=bundle)
    artifact = artifact_hash(
        program_name=program_name, signature_versions=versions, optimizer=optimizer, dataset_hash=dataset,
        compiled_prompt_hash=prompt, compiled_artifact_uri=compiled_artifact_uri,
        reproducibility_hash=reproducibility)
    return DSPyCompileResult(
        program_name=program_name, signature_versions=versions, optimizer=optimizer, dataset_hash=dataset,
        metric_bundle=bundle, compiled_prompt_hash=prompt, compiled_artifact_uri=compiled_artifact_uri,
        artifact_hash=artifact, reproducibility_hash=reproducibility, created_at=created_at)


def build_eval_report(*, compile_result: DSPyCompileResult, schema_valid_rate: float | None,
                      veto_alignment_rate: float | None, false_veto_rate: float | None, latency_p95_ms: int | None,
                      gate_compatibility: str, promotion_recommendation: str, metric_bundle: Mapping[str, Any],
                      created_at: datetime) -> DSPyEvalReport:
    bundle = normalise(dict(metric_bundle))
    digest = eval_hash(artifact_hash=compile_result.artifact_hash, schema_valid_rate=schema_valid_rate,
                       veto_alignment_rate=veto_alignment_rate, false_veto_rate=false_veto_rate,
                       latency_p95_ms=latency_p95_ms, gate_compatibility=gate_compatibility,
                       promotion_recommendation=promotion_recommendation, metric_bundle=bundle)
    return DSPyEvalReport.model_validate({
        "artifact_hash": compile_result.artifact_hash, "schema_valid_rate": schema_valid_rate,
        "veto_alignment_rate": veto_alignment_rate, "false_veto_rate": false_veto_rate,
        "latency_p95_ms": latency_p95_ms, "gate_compatibility": gate_compatibility,
        "promotion_recommendation": promotion_recommendation, "metric_bundle": bundle, "eval_hash": digest,
        "created_at": created_at})


def build_promotion_record(*, eval_report: DSPyEvalReport, promotion_target: str, approved: bool,
                           approval_token_ref: str | None, promoted_by: str | None, reasons: list[str],
                           created_at: datetime) -> DSPyPromotionRecord:
    digest = promotion_hash(artifact_hash=eval_report.artifact_hash, eval_hash=eval_report.eval_hash,
                            promotion_target=promotion_target, approved=approved,
                            approval_token_ref=approval_token_ref, promoted_by=promoted_by)
    return DSPyPromotionRecord.model_validate({
        "artifact_hash": eval_report.artifact_hash, "eval_hash": eval_report.eval_hash,
        "promotion_target": promotion_target, "approved": approved, "approval_token_ref": approval_token_ref,
        "promoted_by": promoted_by, "reasons": list(reasons), "promotion_hash": digest, "created_at": created_at})


def bundle_artifacts(compile_result: DSPyCompileResult, eval_report: DSPyEvalReport,
                     promotion_record: DSPyPromotionRecord | None = None) -> DSPyArtifactBundle:
    hashes = {"compile_result": hash_payload(compile_result.dump()), "eval_report": hash_payload(eval_report.dump())}
    if promotion_record is not None:
        hashes["promotion_record"] = hash_payload(promotion_record.dump())
    return DSPyArtifactBundle(compile_result=compile_result, eval_report=eval_report,
                              promotion_record=promotion_record, manifest_hash=hash_payload(hashes),
                              artifact_hashes=hashes)


def write_artifact_bundle(output_dir: Path, compile_result: DSPyCompileResult, eval_report: DSPyEvalReport,
                          promotion_record: DSPyPromotionRecord | None = None) -> dict[str, str]:
    """Write the records and the bundle (canonical JSON + newline) and return {file name: H(payload)}.

    The files are written into a staging directory beside ``output_dir`` that replaces it whole at
    the end (:class:`..artifacts.RunDirectory`): a failure leaves the previous ``output_dir`` as it
    was and nothing half-written. ``output_dir`` belongs to the bundle; other files in it are gone
    afterwards.
    """
    if eval_report.artifact_hash != compile_result.artifact_hash:
        raise ValueError("eval_report_artifact_hash_mismatch")
    if promotion_record is not None and (promotion_record.artifact_hash, promotion_record.eval_hash) != (
            eval_report.artifact_hash, eval_report.eval_hash):
        raise ValueError("promotion_record_does_not_match_eval_report")
    bundle = bundle_artifacts(compile_result, eval_report, promotion_record)
    payloads: dict[str, dict[str, Any]] = {COMPILE_RESULT_FILE: compile_result.dump(),
                                           EVAL_REPORT_FILE: eval_report.dump()}
    if promotion_record is not None:
        payloads[PROMOTION_RECORD_FILE] = promotion_record.dump()
    payloads[BUNDLE_FILE] = bundle.dump()
    with RunDirectory(output_dir) as out:
        for name, payload in payloads.items():
            out.write_bytes(name, canonical_bytes(payload))
        out.commit()
    return {name: hash_payload(payload) for name, payload in payloads.items()}


def write_compile_result(output_dir: Path, compile_result: DSPyCompileResult, *,
                         extra_files: Mapping[str, bytes] | None = None) -> dict[str, str]:
    """What ``dspy compile`` writes: ``dspy-compile-result.json`` and, in the same staged swap, any
    ``extra_files`` (for example the compiled program itself); returns {file name: H(payload)} for the
    record and {file name: SHA-256 of the bytes} for the extra files.
    """
    extra = dict(extra_files or {})
    if COMPILE_RESULT_FILE in extra:
        raise ValueError(f"{COMPILE_RESULT_FILE} is written from the compile result")
    with RunDirectory(output_dir) as out:
        out.write_bytes(COMPILE_RESULT_FILE, canonical_bytes(compile_result.dump()))
        for name, data in extra.items():
            out.write_bytes(name, data)
        hashes = {name: out.hashes[name] for name in extra}
        out.commit()
    return {COMPILE_RESULT_FILE: hash_payload(compile_result.dump()), **hashes}

"""``torghut-research dspy eval | promote`` end to end: files, bytes and exit codes.

Eval then promote twice gives identical bytes; a hold and a refusal are decisions; live is refused;
a tampered compile result or an edited eval report is refused; unusable input exits 2 with one line
and writes nothing; a failed write leaves the previous bundle; the compile command writes its record
with the program.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from torghut_research.cli import main
from torghut_research.dspy.hashing import hash_payload
from torghut_research.dspy.metric_policy import SHIPPED
from torghut_research.dspy.workflow import build_compile_result, write_artifact_bundle

from .conftest import cli

CREATED = datetime(2026, 2, 12, 21, 0, tzinfo=UTC)


GOOD = {"schemaValidRate": 0.998, "vetoAlignmentRate": 0.9, "falseVetoRate": 0.01, "fallbackRate": 0.0,
        "latencyP95Ms": 1200}


FILES = ("dspy-bundle.json", "dspy-compile-result.json", "dspy-eval-report.json", "dspy-promotion-record.json")


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    result = build_compile_result(
        program_name="trade-review", signature_versions={"TradeReview": "v1"}, optimizer="miprov2",
        dataset_payload={"rows": [1, 2, 3]}, metric_bundle={"score": 0.9}, compiled_prompt_payload={"p": "x"},
        compiled_artifact_uri="artifact:///compiled-program.json", seed=7, created_at=CREATED)
    paths = {"compile": tmp_path / "compile.json", "observed": tmp_path / "observed.json",
             "baseline": tmp_path / "baseline.json"}
    paths["compile"].write_text(json.dumps(result.dump(), indent=2))
    paths["observed"].write_text(json.dumps(GOOD))
    paths["baseline"].write_text(json.dumps({"vetoAlignmentRate": 0.85}))
    return paths


def eval_args(inputs: dict[str, Path], out: Path, *extra: str | Path) -> list[str | Path]:
    return ["dspy", "eval", "--compile-result", inputs["compile"], "--observed-metrics", inputs["observed"],
            "--baseline", inputs["baseline"], "--metric-policy", SHIPPED, "--output-dir", out,
            "--created-at", "2026-02-13T10:00:00Z", *extra]


def promote_args(eval_dir: Path, out: Path, target: str = "shadow", *extra: str | Path) -> list[str | Path]:
    return ["dspy", "promote", "--eval-report", eval_dir / "dspy-eval-report.json", "--target", target,
            "--promoted-by", "ops", "--metric-policy", SHIPPED, "--output-dir", out,
            "--created-at", "2026-02-13T11:00:00Z", *extra]


def test_eval_then_promote_twice_gives_identical_bytes(capsys: pytest.CaptureFixture[str], inputs: dict[str, Path],
                                                      tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        code, evaluated, _ = cli(capsys, *eval_args(inputs, tmp_path / f"eval-{name}"))
        assert code == 0 and evaluated["decision"] == "shadow" and evaluated["reasons"] == []
        code, promoted, _ = cli(capsys, *promote_args(tmp_path / f"eval-{name}", tmp_path / f"promote-{name}",
                                                      "shadow", "--approval-token-ref", "ticket-42"))
        assert code == 0 and promoted["decision"] == "approved" and promoted["approved"] is True
        runs.append((evaluated, promoted))
    (eval_a, promote_a), (eval_b, promote_b) = runs
    for key in ("artifactHash", "evalHash", "manifestHash", "files"):
        assert eval_a[key] == eval_b[key]
    for key in ("promotionHash", "manifestHash", "files"):
        assert promote_a[key] == promote_b[key]
    for name in FILES:
        a, b = (tmp_path / "promote-a" / name).read_bytes(), (tmp_path / "promote-b" / name).read_bytes()
        assert a == b and a.endswith(b"}\n") and b"\n" not in a[:-1]
        assert hash_payload(json.loads(a)) == promote_a["files"][name]
    bundle = json.loads((tmp_path / "promote-a" / "dspy-bundle.json").read_text())
    assert bundle["manifestHash"] == promote_a["manifestHash"] == hash_payload(bundle["artifactHashes"])
    assert sorted(p.name for p in (tmp_path / "eval-a").iterdir()) == [
        "dspy-bundle.json", "dspy-compile-result.json", "dspy-eval-report.json"]


def test_a_hold_and_a_refusal_are_decisions(capsys: pytest.CaptureFixture[str], inputs: dict[str, Path],
                                            tmp_path: Path) -> None:
    inputs["observed"].write_text(json.dumps({**GOOD, "falseVetoRate": 0.2}))
    code, evaluated, _ = cli(capsys, *eval_args(inputs, tmp_path / "eval"))
    assert (code, evaluated["decision"], evaluated["reasons"]) == (0, "hold", ["false_veto_rate_above_max"])
    code, promoted, _ = cli(capsys, *promote_args(tmp_path / "eval", tmp_path / "promote", "shadow"))
    assert code == 0 and promoted["decision"] == "refused"
    assert promoted["reasons"] == ["eval_gate_compatibility_failed", "eval_recommendation_hold",
                                   "approval_token_missing"]
    record = json.loads((tmp_path / "promote" / "dspy-promotion-record.json").read_text())
    assert record["approved"] is False and record["reasons"] == promoted["reasons"]


def test_live_is_refused_from_the_cli_even_with_the_switch_on(capsys: pytest.CaptureFixture[str],
                                                              inputs: dict[str, Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION", "true")
    cli(capsys, *eval_args(inputs, tmp_path / "eval"))
    code, promoted, _ = cli(capsys, *promote_args(tmp_path / "eval", tmp_path / "promote", "constrained_live",
                                                  "--approval-token-ref", "ticket-42"))
    assert code == 0 and promoted["approved"] is False
    assert promoted["reasons"] == ["live_rollout_disabled_by_policy", "live_requires_paper_recommendation"]


def test_a_tampered_compile_result_fails_closed(capsys: pytest.CaptureFixture[str], inputs: dict[str, Path],
                                                tmp_path: Path) -> None:
    raw = json.loads(inputs["compile"].read_text())
    raw["compiledArtifactUri"] = "s3://somewhere-else/compiled-program.json"
    inputs["compile"].write_text(json.dumps(raw))
    code, evaluated, _ = cli(capsys, *eval_args(inputs, tmp_path / "eval"))
    assert (code, evaluated["decision"], evaluated["reasons"]) == (0, "hold", ["deterministic_artifact_hash_mismatch"])
    code, promoted, _ = cli(capsys, *promote_args(tmp_path / "eval", tmp_path / "promote", "shadow",
                                                  "--approval-token-ref", "ticket-42"))
    assert promoted["approved"] is False and "compile_result_artifact_hash_mismatch" in promoted["reasons"]


def test_an_edited_eval_report_is_refused(capsys: pytest.CaptureFixture[str], inputs: dict[str, Path],
                                          tmp_path: Path) -> None:
    inputs["observed"].write_text(json.dumps({**GOOD, "schemaValidRate": 0.9}))
    cli(capsys, *eval_args(inputs, tmp_path / "eval"))
    report_path = tmp_path / "eval" / "dspy-eval-report.json"
    report = json.loads(report_path.read_text())
    report.update(schemaValidRate=0.999, gateCompatibility="pass", promotionRecommendation="shadow")
    report_path.write_text(json.dumps(report))
    code, promoted, _ = cli(capsys, *promote_args(tmp_path / "eval", tmp_path / "promote", "shadow",
                                                  "--approval-token-ref", "ticket-42"))
    assert code == 0 and promoted["approved"] is False and promoted["reasons"] == ["eval_hash_mismatch"]


def test_promote_against_another_artifacts_compile_result_writes_nothing(
        capsys: pytest.CaptureFixture[str], inputs: dict[str, Path], tmp_path: Path) -> None:
    cli(capsys, *eval_args(inputs, tmp_path / "eval"))
    other = build_compile_result(
        program_name="other", signature_versions={"TradeReview": "v1"}, optimizer="miprov2", dataset_payload=[],
        metric_bundle={}, compiled_prompt_payload={}, compiled_artifact_uri="artifact:///x.json", seed=1,
        created_at=CREATED)
    other_path = tmp_path / "other.json"
    other_path.write_text(json.dumps(other.dump()))
    code, promoted, _ = cli(capsys, *promote_args(tmp_path / "eval", tmp_path / "promote", "shadow",
                                                  "--approval-token-ref", "t", "--compile-result", other_path))
    assert code == 0 and promoted["approved"] is False
    assert "eval_report_artifact_hash_mismatch" in promoted["reasons"]
    assert promoted["files"] == {} and not (tmp_path / "promote").exists()


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: p["compile"].write_text("{not json"), "compile.json: the DSPy compile result is not valid JSON"),
    (lambda p: p["compile"].write_text(json.dumps({**json.loads(p["compile"].read_text()), "artifactHash": "x"})),
     "compile.json: invalid DSPy compile result: artifactHash: hash_must_be_sha256_hex"),
    (lambda p: p["compile"].write_text(json.dumps({k: v for k, v in json.loads(p["compile"].read_text()).items()
                                                   if k != "datasetHash"})),
     "invalid DSPy compile result: datasetHash: Field required"),
    (lambda p: p["observed"].write_text("[1]"), "observed.json: the observed metrics must be a JSON object"),
    (lambda p: p["observed"].write_text(json.dumps({**GOOD, "schemaValidRate": 2})), "a rate must be between 0 and 1"),
    (lambda p: p["baseline"].unlink(), "baseline.json: cannot read the baseline"),
])
def test_unusable_input_exits_2_with_one_line_and_writes_nothing(
        capsys: pytest.CaptureFixture[str], inputs: dict[str, Path], tmp_path: Path, setup: Any,
        message: str) -> None:
    setup(inputs)
    code, out, err = cli(capsys, *eval_args(inputs, tmp_path / "eval"))
    assert (code, out) == (2, {})
    assert err.count("\n") == 1 and err.startswith("torghut-research: ") and message in err
    assert not (tmp_path / "eval").exists()


def test_a_malformed_policy_exits_2_naming_the_file_and_key(capsys: pytest.CaptureFixture[str],
                                                            inputs: dict[str, Path], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(SHIPPED.read_text().replace("falseVetoRateMax: 0.03", "falseVetoRateMax: lots"))
    args = eval_args(inputs, tmp_path / "eval")
    args[args.index(SHIPPED)] = policy
    code, _, err = cli(capsys, *args)
    assert code == 2 and f"{policy}: invalid DSPy metric policy: policy.falseVetoRateMax" in err


def test_promote_without_an_eval_report_or_with_a_bad_time_exits_2(capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    code, _, err = cli(capsys, *promote_args(tmp_path / "nowhere", tmp_path / "promote"))
    assert code == 2 and "cannot read the DSPy eval report" in err
    with pytest.raises(SystemExit) as exit_:
        main(["dspy", "eval", "--compile-result", "a", "--observed-metrics", "b", "--metric-policy", "c",
              "--output-dir", "d", "--created-at", "2026-02-13T10:00:00"])
    assert exit_.value.code == 2 and "has no time zone" in capsys.readouterr().err


def test_a_failed_write_leaves_the_previous_bundle(inputs: dict[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from torghut_research.dspy import workflow
    from torghut_research.dspy.schemas import DSPyCompileResult

    result = DSPyCompileResult.model_validate_json(inputs["compile"].read_text())
    from torghut_research.dspy.evaluator import evaluate
    from torghut_research.dspy.metric_policy import load_metric_policy

    report = evaluate(result, GOOD, {"vetoAlignmentRate": 0.85}, load_metric_policy(), created_at=CREATED)
    out = tmp_path / "bundle"
    write_artifact_bundle(out, result, report)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = {"n": 0}
    real = workflow.canonical_bytes

    def failing(payload: Any) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(payload)

    monkeypatch.setattr(workflow, "canonical_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        write_artifact_bundle(out, result, report)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if ".staging-" in p.name] == []


def test_the_compile_command_can_write_its_record_with_the_program(tmp_path: Path) -> None:
    from torghut_research.dspy.schemas import DSPyCompileResult
    from torghut_research.dspy.workflow import write_compile_result

    result = build_compile_result(
        program_name="trade-review", signature_versions={"TradeReview": "v1"}, optimizer="miprov2",
        dataset_payload=[1], metric_bundle={}, compiled_prompt_payload={"p": 1},
        compiled_artifact_uri="artifact:///compiled-program.json", seed=1, created_at=CREATED)
    files = write_compile_result(tmp_path / "compiled", result, extra_files={"compiled-program.json": b"{}\n"})
    assert sorted(files) == ["compiled-program.json", "dspy-compile-result.json"]
    written = DSPyCompileResult.model_validate_json((tmp_path / "compiled" / "dspy-compile-result.json").read_text())
    assert written == result

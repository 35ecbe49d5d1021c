"""``dspy compile`` with real DSPy optimizers against the deterministic LM stand-in over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from torghut_decision_program import load_artifact
from torghut_embedded.asgi import serve_in_thread
from torghut_embedded.rule_llm import RuleLlm
from torghut_research.dspy.compile import CompileOptions, CompileRefused, compile_program
from torghut_research.dspy.dataset import build_dataset, write_dataset
from torghut_research.dspy.evaluator import evaluate
from torghut_research.dspy.metric_policy import load_metric_policy
from torghut_research.dspy.schemas import DSPyCompileResult
from torghut_research.dspy.synthetic import write_synthetic_dump
from torghut_research.dspy.workflow import recompute_artifact_hash

CREATED = datetime(2026, 2, 12, 22, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[RuleLlm, str]]:
    llm = RuleLlm()
    with serve_in_thread(llm.app) as url:
        yield llm, url + "/v1"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dspy")
    dump = write_synthetic_dump(root / "dump", decisions=90, seed=5)
    path, _ = write_dataset(root / "dataset", build_dataset(dump, created_at=CREATED))
    return path


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("optimizer", ["labeled-few-shot", "bootstrap-few-shot"])
def test_compiling_twice_gives_the_same_bytes_and_hashes(standin: tuple[RuleLlm, str], dataset: Path,
                                                         tmp_path: Path, optimizer: str) -> None:
    llm, url = standin
    options = CompileOptions(optimizer=optimizer, seed=11, lm_base_url=url, lm_model="torghut-standin", max_demos=8)
    before = llm.calls
    first = compile_program(dataset, tmp_path / "a", options, created_at=CREATED)
    second = compile_program(dataset, tmp_path / "b", options, created_at=CREATED)
    assert llm.calls > before  # the program really went through the LM, over HTTP
    assert files(tmp_path / "a") == files(tmp_path / "b")
    for key in ("datasetHash", "compiledPromptHash", "reproducibilityHash", "artifactHash", "runtimeArtifactHash"):
        assert first[key] == second[key]
    # The chain: the compile result recomputes, names the runtime artifact by a machine-independent URI,
    # and the artifact's provenance names the compile result.
    result = DSPyCompileResult.model_validate_json((tmp_path / "a/dspy-compile-result.json").read_bytes())
    assert recompute_artifact_hash(result) == result.artifact_hash == first["artifactHash"]
    assert result.compiled_artifact_uri == f"artifact:///{first['runtimeArtifactHash']}.json"
    assert result.dataset_hash == json.loads((tmp_path / "a/dspy-observed-metrics.json").read_text())["datasetHash"]
    artifact = load_artifact(tmp_path / "a/artifacts" / f"{first['runtimeArtifactHash']}.json",
                             first["runtimeArtifactHash"])
    assert artifact.provenance["compile_artifact_hash"] == result.artifact_hash
    assert 0 < len(artifact.state["demos"]) <= 8
    observed = json.loads((tmp_path / "a/dspy-observed-metrics.json").read_text())
    assert observed["schemaValidRate"] == 1.0 and observed["fallbackRate"] == 0.0
    assert observed["latencyP95Ms"] in observed["latencyBucketsMs"]
    assert observed["judgedExamples"] > 0 and observed["vetoAlignmentRate"] is not None
    # `dspy eval` takes it from there: every metric is present, the chain checks hold.
    policy = load_metric_policy(Path(__file__).resolve().parents[2] / "config/dspy-metrics.yaml")
    baseline = json.loads((tmp_path / "a/dspy-baseline-metrics.json").read_text())
    report = evaluate(result, observed, baseline, policy, created_at=CREATED)
    reasons = report.metric_bundle["reasons"]
    assert not any(r.startswith(("compile_result_missing", "deterministic_")) or r.endswith("_threshold_missing")
                   for r in reasons), reasons


def test_the_compiled_program_uses_its_demos(standin: tuple[RuleLlm, str], dataset: Path, tmp_path: Path) -> None:
    _, url = standin
    options = CompileOptions(optimizer="labeled-few-shot", seed=1, lm_base_url=url, lm_model="m", max_demos=60)
    summary = compile_program(dataset, tmp_path / "out", options, created_at=CREATED)
    predictions = json.loads((tmp_path / "out/dspy-eval-predictions.json").read_text())["predictions"]
    assert any(p["compiled"] != p["baseline"] for p in predictions)
    assert summary["observed"]["actionAccuracy"] != summary["baseline"]["actionAccuracy"]


def test_the_hgrm_metric_chooses_bootstrapped_demos_and_is_recorded(standin: tuple[RuleLlm, str], dataset: Path,
                                                                    tmp_path: Path) -> None:
    _, url = standin

    def compile_with(metric: str, out: str) -> dict[str, object]:
        options = CompileOptions(optimizer="bootstrap-few-shot", seed=3, lm_base_url=url, lm_model="m", max_demos=4,
                                 metric=metric)
        return compile_program(dataset, tmp_path / out, options, created_at=CREATED)

    hgrm = compile_with("janus-hgrm-v1", "hgrm")
    exact = compile_with("exact-action-schema-v1", "exact")
    assert hgrm["metric"] == "janus-hgrm-v1"
    assert hgrm["runtimeArtifactHash"] != exact["runtimeArtifactHash"], "another metric accepts other demos"
    result = DSPyCompileResult.model_validate_json((tmp_path / "hgrm/dspy-compile-result.json").read_bytes())
    assert result.metric_bundle["metric"] == "janus-hgrm-v1"
    assert result.metric_bundle["hgrmReward"]["usedBy"] == ["compile", "eval"]
    observed = json.loads((tmp_path / "hgrm/dspy-observed-metrics.json").read_text())
    baseline = json.loads((tmp_path / "hgrm/dspy-baseline-metrics.json").read_text())
    assert isinstance(observed["hgrmMeanReward"], float) and isinstance(baseline["hgrmMeanReward"], float)
    assert json.loads((tmp_path / "exact/dspy-observed-metrics.json").read_text())["hgrmMeanReward"] is not None


def test_mipro_is_refused_without_a_real_lm(standin: tuple[RuleLlm, str], dataset: Path, tmp_path: Path) -> None:
    _, url = standin
    with pytest.raises(CompileRefused, match=r"mipro needs a real LM.*local stand-in"):
        compile_program(dataset, tmp_path / "m", CompileOptions(optimizer="mipro", seed=1, lm_base_url=url,
                                                                lm_model="m"), created_at=CREATED)
    with pytest.raises(CompileRefused, match="does not answer"):
        compile_program(dataset, tmp_path / "m", CompileOptions(optimizer="mipro", seed=1,
                                                                lm_base_url="http://127.0.0.1:9/v1", lm_model="m"),
                        created_at=CREATED)
    assert not (tmp_path / "m").exists()

"""``dspy compile``: a real DSPy optimizer over the trade-decision program, its artifact, and what it measured.

``compile_program(...)``:

1. reads a data set (:mod:`.dataset`) and takes its ``train`` and ``eval`` splits;
2. runs the optimizer on ``torghut_decision_program.program.new_module()`` with the train split,
   the LM reached over HTTP through ``dspy.LM`` (litellm; no cache, temperature 0):

   * ``labeled-few-shot``: ``dspy.LabeledFewShot(k=max_demos)``, the demos being the first ``k``
     of the train split shuffled by ``random.Random(seed)`` (dspy's own sampler is fixed at seed 0);
   * ``bootstrap-few-shot``: ``dspy.BootstrapFewShot(metric, max_bootstrapped_demos, max_labeled_demos,
     max_rounds=1)`` over the train split shuffled by ``seed``: the LM answers each train example with
     labelled demos in its prompt, and answers the metric accepts become bootstrapped demos;
   * ``mipro``: ``dspy.MIPROv2(metric, auto="light", seed=seed)``. It proposes instructions with the LM,
     which only a real LM can do: it is refused (:class:`CompileRefused`) when the LM does not answer
     or is a stand-in (``GET <base>/models`` lists a model ``owned_by: torghut-llm-standin``);

3. the **metric** (``--metric``, :mod:`.metrics`) is ``exact-action-schema-v1`` (default: the label's
   action, schema-valid) or ``janus-hgrm-v1`` (the Janus HGRM reward against the example's event).
   It is what BootstrapFewShot accepts demos by and MIPROv2 optimises; LabeledFewShot takes the
   labels as they are. Eval measures both on every program, whichever compiled it;
4. writes, in one staged swap of ``output_dir``:

   * ``artifacts/<runtime hash>.json``: the compiled state (``write_artifact``'s format, via
     ``make_artifact``), its provenance carrying the compile hashes; ``artifacts/`` is what the
     decision-client's ``LLM_DSPY_ARTIFACT_DIR`` points at and ``<runtime hash>`` its
     ``LLM_DSPY_ARTIFACT_HASH``;
   * ``dspy-compile-result.json``: ``build_compile_result`` with ``compiled_artifact_uri`` =
     ``artifact:///<runtime hash>.json`` (no machine path), dataset payload = the data set without
     ``createdAt`` (so ``datasetHash`` is the data set's hash) and compiled prompt payload = the state;
   * ``dspy-observed-metrics.json``: the compiled program run on every eval example through the LM:
     schema-valid rate, veto alignment and false veto against the firewall, fallback rate, latency,
     and ``hgrmMeanReward`` (the mean HGRM reward, null for a data set without Janus events);
   * ``dspy-baseline-metrics.json``: the same for the uncompiled program (no demos), the baseline
     ``dspy eval --baseline`` compares veto alignment to;
   * ``dspy-eval-predictions.json``: every eval prediction of both, for audit.

**Veto metrics** are taken over the eval examples the firewall judged (``label.firewallVetoed`` not
null: the recorded decision was a buy or sell with a verdict). The program *vetoes* when its action
is not the recorded decision's side. ``vetoAlignmentRate`` = share where the program vetoes exactly
when the firewall did; ``falseVetoRate`` = share where the program vetoes a trade the firewall
approved and the label says was right. With no judged example both are null and eval fails closed.
``fallbackRate`` = share of eval examples where the LM call or parse failed (the runtime holds).

**Determinism.** Same data set, optimizer, seed and a deterministic LM give byte-identical files
and the same hashes: the optimizers' randomness is seeded, the LM is called without cache at
temperature 0, eval runs in a fixed order of results. Measured latency is not: it never enters a
hash. The files carry ``latencyP95Ms`` as the **bucket** the measured p95 falls in (the smallest
of :data:`.measurement.LATENCY_BUCKETS_MS` at or above
it; ``latencyP95MsMax`` 1800 of the shipped policy is a
bucket bound, so the bucketed check passes exactly when the measured one does); the measured value
is only in the command's summary on stdout.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .compile_options import CompileOptions
from .dataset import dataset_body, dataset_hash, load_dataset
from .hashing import canonical_bytes
from .language_model import import_dspy, make_lm, standin_probe
from .measurement import Prediction, observed_metrics, run_program
from .metrics import DESCRIPTIONS, EXACT_ACTION, compile_metric
from .optimizers import OPTIMIZER_NAMES, OPTIMIZERS, examples, optimise
from .workflow import build_compile_result, write_compile_result

if TYPE_CHECKING:
    from torghut_decision_program.artifact import ProgramArtifact

    from .schemas import DSPyCompileResult

OBSERVED_FILE = "dspy-observed-metrics.json"
BASELINE_FILE = "dspy-baseline-metrics.json"
PREDICTIONS_FILE = "dspy-eval-predictions.json"
ARTIFACT_DIR = "artifacts"


class CompileRefused(InputError):
    """The compile cannot run as asked (e.g. MIPROv2 without a real LM)."""


def _splits(dataset: dict[str, Any], dataset_path: Path,
            options: CompileOptions) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The train and eval examples (eval cut to ``eval_limit``); InputError when either is empty."""
    train_rows = [e for e in dataset["examples"] if e["split"] == "train"]
    eval_rows = [e for e in dataset["examples"] if e["split"] == "eval"]
    if not train_rows or not eval_rows:
        raise InputError(f"{dataset_path}: the data set needs train and eval examples "
                         f"(has {len(train_rows)} train, {len(eval_rows)} eval)")
    if options.eval_limit is not None:
        eval_rows = eval_rows[:max(1, options.eval_limit)]
    return train_rows, eval_rows


def _refuse_mipro_without_a_real_lm(options: CompileOptions) -> None:
    if options.optimizer == "mipro":
        why = standin_probe(options.lm_base_url)
        if why is not None:
            raise CompileRefused(f"--optimizer mipro needs a real LM: MIPROv2 proposes instructions with the LM, "
                                 f"and {why}; use labeled-few-shot or bootstrap-few-shot, or point --lm-base-url "
                                 "at a real OpenAI-compatible endpoint")


def _metric_bundle(options: CompileOptions, dataset: dict[str, Any], train_rows: list[dict[str, Any]],
                   eval_rows: list[dict[str, Any]], state: dict[str, Any],
                   metric_policy_ref: str | None) -> dict[str, Any]:
    metric_bundle: dict[str, Any] = {
        "metric": options.metric, "metricDescription": DESCRIPTIONS[options.metric],
        "hgrmReward": {"rewardVersion": "janus-hgrm-v1", "config": options.hgrm.model_dump(mode="json"),
                       "usedBy": ["compile", "eval"] if options.metric != EXACT_ACTION else ["eval"]},
        "labelRule": dataset["labelRule"]["name"], "datasetRef": None, "trainExamples": len(train_rows),
        "evalExamples": len(eval_rows), "evalLimit": options.eval_limit, "demos": len(state.get("demos") or []),
        "optimizerConfig": {"maxDemos": options.max_demos, "maxBootstrappedDemos": options.max_bootstrapped_demos,
                            "seed": options.seed, "lmModel": options.lm_model, "temperature": 0.0},
    }
    if metric_policy_ref is not None:
        metric_bundle["metricPolicyRef"] = metric_policy_ref
    return metric_bundle


def _compile_record(options: CompileOptions, dataset: dict[str, Any], state: dict[str, Any],
                    metric_bundle: dict[str, Any], uri: str,
                    created_at: datetime) -> tuple[DSPyCompileResult, ProgramArtifact]:
    """The compile result (``datasetRef`` set in ``metric_bundle``) and the runtime artifact carrying its hashes."""
    from torghut_decision_program import make_artifact
    from torghut_decision_program.constants import PROGRAM_NAME, SIGNATURE_VERSION

    digest = dataset_hash(dataset)  # = hash_payload(dataset_body(dataset)), piecewise
    metric_bundle["datasetRef"] = "sha256:" + digest
    result = build_compile_result(
        program_name=PROGRAM_NAME, signature_versions={PROGRAM_NAME: SIGNATURE_VERSION},
        optimizer=OPTIMIZER_NAMES[options.optimizer], dataset_payload=dataset_body(dataset),
        dataset_hash=digest, metric_bundle=metric_bundle, compiled_prompt_payload=state, compiled_artifact_uri=uri,
        seed=options.seed, created_at=created_at)
    artifact = make_artifact(state, provenance={
        "optimizer": result.optimizer, "seed": options.seed, "compile_artifact_hash": result.artifact_hash,
        "dataset_hash": result.dataset_hash, "compiled_prompt_hash": result.compiled_prompt_hash,
        "reproducibility_hash": result.reproducibility_hash, "compiled_artifact_uri": uri,
        "created_at": created_at.isoformat().replace("+00:00", "Z")})
    return result, artifact


@dataclass(frozen=True)
class _Measured:
    """Both programs measured on the eval split: the three files' documents and what stays off them."""

    observed: dict[str, Any]
    baseline: dict[str, Any]
    files: dict[str, bytes]
    latency_p95_ms: dict[str, float]
    seconds: float


def _eval_documents(common: dict[str, Any], artifact_hash: str, runtime_hash: str, eval_rows: list[dict[str, Any]],
                    observed: dict[str, Any], baseline: dict[str, Any],
                    compiled: list[Prediction], uncompiled: list[Prediction]) -> dict[str, bytes]:
    observed_doc = {**common, "program": "compiled", "artifactHash": artifact_hash,
                    "runtimeArtifactHash": runtime_hash, **observed}
    baseline_doc = {**common, "program": "uncompiled (no demos)", **baseline}
    predictions_doc = {"schemaVersion": "torghut.dspy.eval-predictions.v1", "artifactHash": artifact_hash,
                       "predictions": [{"id": c.id, "label": e["label"]["action"], "compiled": c.action,
                                        "baseline": b.action, "compiledFallback": c.fallback,
                                        "baselineFallback": b.fallback}
                                       for e, c, b in zip(eval_rows, compiled, uncompiled, strict=True)]}
    return {OBSERVED_FILE: canonical_bytes(observed_doc), BASELINE_FILE: canonical_bytes(baseline_doc),
            PREDICTIONS_FILE: canonical_bytes(predictions_doc)}


def _measure(state: dict[str, Any], lm: Any, eval_rows: list[dict[str, Any]], options: CompileOptions,
             common: dict[str, Any], artifact_hash: str, runtime_hash: str) -> _Measured:
    """The compiled program and the uncompiled baseline, each run on every eval example through the LM."""
    from torghut_decision_program.program import module_state, new_module

    started = time.perf_counter()
    compiled = run_program(state, lm, eval_rows, num_threads=options.num_threads)
    uncompiled = run_program(module_state(new_module()), lm, eval_rows, num_threads=options.num_threads)
    eval_s = time.perf_counter() - started
    observed = observed_metrics(eval_rows, compiled, options.hgrm)
    baseline = observed_metrics(eval_rows, uncompiled, options.hgrm)
    measured = {"compiled": observed.pop("_measuredLatencyP95Ms"), "baseline": baseline.pop("_measuredLatencyP95Ms")}
    files = _eval_documents(common, artifact_hash, runtime_hash, eval_rows, observed, baseline, compiled, uncompiled)
    return _Measured(observed, baseline, files, measured, eval_s)


def compile_program(dataset_path: Path, output_dir: Path, options: CompileOptions, *, created_at: datetime,
                    metric_policy_ref: str | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Compile, write and measure (module doc); returns the command's summary."""
    if options.optimizer not in OPTIMIZERS:
        raise InputError(f"--optimizer {options.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
    dataset = load_dataset(dataset_path)
    train_rows, eval_rows = _splits(dataset, dataset_path, options)
    _refuse_mipro_without_a_real_lm(options)
    metric = compile_metric(options.metric, train_rows, options.hgrm, str(dataset_path))
    dspy = import_dspy()
    from torghut_decision_program import load_artifact, make_artifact, render_artifact
    from torghut_decision_program.constants import PROGRAM_NAME
    from torghut_decision_program.program import module_state

    lm = make_lm(options)
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # dspy's optimizers print progress; stdout is the summary's
        compiled = optimise(dspy, options, examples(dspy, train_rows), lm, metric)
    compile_s = time.perf_counter() - started
    state = module_state(compiled)
    runtime_hash = make_artifact(state).artifact_hash
    uri = f"artifact:///{runtime_hash}.json"
    metric_bundle = _metric_bundle(options, dataset, train_rows, eval_rows, state, metric_policy_ref)
    result, artifact = _compile_record(options, dataset, state, metric_bundle, uri, created_at)

    if progress:
        progress(f"compiled in {compile_s:.1f}s; measuring {len(eval_rows)} eval examples")
    common = {"schemaVersion": "torghut.dspy.observed-metrics.v1", "datasetHash": result.dataset_hash,
              "metric": options.metric, "createdAt": created_at}
    measured = _measure(state, lm, eval_rows, options, common, result.artifact_hash, runtime_hash)
    files = write_compile_result(output_dir, result, extra_files={
        f"{ARTIFACT_DIR}/{runtime_hash}.json": render_artifact(artifact).encode("ascii"), **measured.files})
    load_artifact(output_dir / ARTIFACT_DIR / f"{runtime_hash}.json", runtime_hash)  # verify what was written
    return {
        "command": "dspy compile", "optimizer": result.optimizer, "seed": options.seed, "metric": options.metric,
        "programName": PROGRAM_NAME, "datasetHash": result.dataset_hash,
        "compiledPromptHash": result.compiled_prompt_hash, "reproducibilityHash": result.reproducibility_hash,
        "artifactHash": result.artifact_hash, "runtimeArtifactHash": runtime_hash, "compiledArtifactUri": uri,
        "artifactDir": str((output_dir / ARTIFACT_DIR).resolve()), "outputDir": str(output_dir.resolve()),
        "demos": metric_bundle["demos"], "trainExamples": len(train_rows), "evalExamples": len(eval_rows),
        "observed": {k: measured.observed[k] for k in ("schemaValidRate", "vetoAlignmentRate", "falseVetoRate",
                                                       "fallbackRate", "latencyP95Ms", "actionAccuracy",
                                                       "hgrmMeanReward")},
        "baseline": {k: measured.baseline[k] for k in ("vetoAlignmentRate", "falseVetoRate", "actionAccuracy",
                                                       "hgrmMeanReward")},
        "measuredLatencyP95Ms": measured.latency_p95_ms,
        "seconds": {"compile": round(compile_s, 3), "eval": round(measured.seconds, 3)},
        "files": files,
    }

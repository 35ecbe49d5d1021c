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
of :data:`LATENCY_BUCKETS_MS` at or above it; ``latencyP95MsMax`` 1800 of the shipped policy is a
bucket bound, so the bucketed check passes exactly when the measured one does); the measured value
is only in the command's summary on stdout.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ..errors import InputError
from ..janus.settings import HgrmConfig
from .dataset import OUTPUT_FIELDS, dataset_body, dataset_hash, load_dataset
from .hashing import canonical_bytes
from .metrics import DESCRIPTIONS, EXACT_ACTION, Metric, compile_metric, hgrm_reward, schema_valid
from .workflow import build_compile_result, write_compile_result

OPTIMIZERS = ("labeled-few-shot", "bootstrap-few-shot", "mipro")
OPTIMIZER_NAMES = {"labeled-few-shot": "LabeledFewShot", "bootstrap-few-shot": "BootstrapFewShot",
                   "mipro": "MIPROv2"}
LATENCY_BUCKETS_MS = (1000, 1800, 5000, 10_000, 30_000, 60_000)
OBSERVED_FILE = "dspy-observed-metrics.json"
BASELINE_FILE = "dspy-baseline-metrics.json"
PREDICTIONS_FILE = "dspy-eval-predictions.json"
ARTIFACT_DIR = "artifacts"
STANDIN_OWNER = "torghut-llm-standin"


class CompileRefused(InputError):
    """The compile cannot run as asked (e.g. MIPROv2 without a real LM)."""


@dataclass(frozen=True)
class CompileOptions:
    optimizer: str
    seed: int
    lm_base_url: str
    lm_model: str
    lm_api_key: str | None = None
    max_demos: int = 16
    max_bootstrapped_demos: int = 4
    num_threads: int = 4
    timeout_s: float = 30.0
    eval_limit: int | None = None
    """Measure on the first ``eval_limit`` eval examples (data set order) only: bounds the LM calls."""
    metric: str = EXACT_ACTION
    hgrm: HgrmConfig = field(default_factory=HgrmConfig)


def latency_bucket(ms: float) -> int:
    """The smallest bucket bound at or above ``ms`` (the last bound for anything above it)."""
    return next((b for b in LATENCY_BUCKETS_MS if ms <= b), LATENCY_BUCKETS_MS[-1])


def _import_dspy() -> Any:
    from torghut_decision_program.program import import_dspy

    return import_dspy()


def make_lm(options: CompileOptions) -> Any:
    dspy = _import_dspy()
    return dspy.LM(f"openai/{options.lm_model}", api_base=options.lm_base_url.rstrip("/"),
                   api_key=options.lm_api_key or "no-key", temperature=0.0, max_tokens=800, cache=False,
                   num_retries=0, timeout=options.timeout_s)


def standin_probe(base_url: str, timeout_s: float = 5.0) -> str | None:
    """Why ``base_url`` is not a real LM (unreachable or a stand-in), or None when it may be one."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/models", timeout=timeout_s)
    except httpx.HTTPError as exc:
        return f"the LM at {base_url} does not answer ({type(exc).__name__}: {exc})"
    if response.headers.get("x-torghut-llm-standin"):
        return f"the LM at {base_url} is the local stand-in ({response.headers['x-torghut-llm-standin']})"
    try:
        models = response.json().get("data") or []
    except ValueError:
        return None
    if any(isinstance(m, dict) and m.get("owned_by") == STANDIN_OWNER for m in models):
        return f"the LM at {base_url} is the local stand-in"
    return None


# -- running the program on the eval split ---------------------------------------------------------

@dataclass(frozen=True)
class Prediction:
    id: str
    action: str | None
    valid: bool
    fallback: bool
    latency_ms: float
    rationale_given: bool = False


def _predict(module: Any, example: dict[str, Any]) -> Prediction:
    started = time.perf_counter()
    try:
        prediction = module(request_json=example["inputs"]["request_json"])
    except Exception:  # the runtime holds on any LM or parse failure: a fallback
        return Prediction(example["id"], None, False, True, (time.perf_counter() - started) * 1000)
    elapsed = (time.perf_counter() - started) * 1000
    valid = schema_valid(prediction)
    rationale = str(getattr(prediction, "rationale", "") or "").strip()
    return Prediction(example["id"], prediction.action if valid else None, valid, False, elapsed, bool(rationale))


def run_program(state: dict[str, Any], lm: Any, examples: Sequence[dict[str, Any]], *,
                num_threads: int) -> list[Prediction]:
    """``examples`` through the program with ``state``, results in the examples' order."""
    from torghut_decision_program.program import build_module

    module = build_module(state)
    module.set_lm(lm)
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        return list(pool.map(lambda e: _predict(module, e), examples))


def mean_hgrm_reward(examples: Sequence[dict[str, Any]], predictions: Sequence[Prediction],
                     config: HgrmConfig) -> float | None:
    """The mean HGRM reward of the predictions; None when an example has no Janus event (an older data set)."""
    if not examples or any("janusEvent" not in e["label"] for e in examples):
        return None
    rewards = [hgrm_reward(e, p.action, p.rationale_given, config) for e, p in zip(examples, predictions, strict=True)]
    return round(sum(rewards) / len(rewards), 6)


def observed_metrics(examples: Sequence[dict[str, Any]], predictions: Sequence[Prediction],
                     hgrm: HgrmConfig) -> dict[str, Any]:
    """The five observed metrics (module doc), latency bucketed, the mean HGRM reward, counts and action accuracy."""
    n = len(examples)
    judged = [(e, p) for e, p in zip(examples, predictions, strict=True) if e["label"]["firewallVetoed"] is not None]

    def vetoes(example: dict[str, Any], prediction: Prediction) -> bool:
        return prediction.action != example["recorded"]["decisionAction"]

    aligned = sum(vetoes(e, p) == e["label"]["firewallVetoed"] for e, p in judged)
    false_vetoes = sum(vetoes(e, p) and e["label"]["firewallVetoed"] is False
                       and e["label"]["action"] == e["recorded"]["decisionAction"] for e, p in judged)
    latencies = sorted(p.latency_ms for p in predictions)
    p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)] if latencies else 0.0
    return {
        "evalExamples": n, "judgedExamples": len(judged),
        "schemaValidRate": sum(p.valid for p in predictions) / n,
        "vetoAlignmentRate": aligned / len(judged) if judged else None,
        "falseVetoRate": false_vetoes / len(judged) if judged else None,
        "fallbackRate": sum(p.fallback for p in predictions) / n,
        "actionAccuracy": sum(p.action == e["label"]["action"] for e, p in zip(examples, predictions, strict=True)) / n,
        "hgrmMeanReward": mean_hgrm_reward(examples, predictions, hgrm),
        "latencyP95Ms": latency_bucket(p95), "latencyBucketsMs": list(LATENCY_BUCKETS_MS),
        "_measuredLatencyP95Ms": round(p95, 3),
    }


# -- compile ------------------------------------------------------------------------------------

def _examples(dspy: Any, rows: Sequence[dict[str, Any]]) -> list[Any]:
    return [dspy.Example(request_json=r["inputs"]["request_json"],
                         **{name: r["label"][name] for name in OUTPUT_FIELDS}).with_inputs("request_json")
            for r in rows]


def _optimise(dspy: Any, options: CompileOptions, trainset: list[Any], lm: Any, metric: Metric) -> Any:
    from torghut_decision_program.program import new_module

    shuffled = list(trainset)
    random.Random(options.seed).shuffle(shuffled)
    if options.optimizer == "labeled-few-shot":
        return dspy.LabeledFewShot(k=options.max_demos).compile(new_module(), trainset=shuffled, sample=False)
    with dspy.context(lm=lm):
        if options.optimizer == "bootstrap-few-shot":
            optimizer = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=options.max_bootstrapped_demos,
                                              max_labeled_demos=options.max_demos, max_rounds=1)
            return optimizer.compile(new_module(), trainset=shuffled)
        optimizer = dspy.MIPROv2(metric=metric, auto="light", seed=options.seed, num_threads=options.num_threads,
                                 verbose=False)
        return optimizer.compile(new_module(), trainset=shuffled, requires_permission_to_run=False)


def compile_program(dataset_path: Path, output_dir: Path, options: CompileOptions, *, created_at: datetime,
                    metric_policy_ref: str | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Compile, write and measure (module doc); returns the command's summary."""
    if options.optimizer not in OPTIMIZERS:
        raise InputError(f"--optimizer {options.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
    dataset = load_dataset(dataset_path)
    train_rows = [e for e in dataset["examples"] if e["split"] == "train"]
    eval_rows = [e for e in dataset["examples"] if e["split"] == "eval"]
    if not train_rows or not eval_rows:
        raise InputError(f"{dataset_path}: the data set needs train and eval examples "
                         f"(has {len(train_rows)} train, {len(eval_rows)} eval)")
    if options.eval_limit is not None:
        eval_rows = eval_rows[:max(1, options.eval_limit)]
    if options.optimizer == "mipro":
        why = standin_probe(options.lm_base_url)
        if why is not None:
            raise CompileRefused(f"--optimizer mipro needs a real LM: MIPROv2 proposes instructions with the LM, "
                                 f"and {why}; use labeled-few-shot or bootstrap-few-shot, or point --lm-base-url "
                                 "at a real OpenAI-compatible endpoint")
    metric = compile_metric(options.metric, train_rows, options.hgrm, str(dataset_path))
    dspy = _import_dspy()
    from torghut_decision_program import make_artifact, render_artifact
    from torghut_decision_program.constants import PROGRAM_NAME, SIGNATURE_VERSION
    from torghut_decision_program.program import module_state, new_module

    lm = make_lm(options)
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # dspy's optimizers print progress; stdout is the summary's
        compiled = _optimise(dspy, options, _examples(dspy, train_rows), lm, metric)
    compile_s = time.perf_counter() - started
    state = module_state(compiled)
    runtime_hash = make_artifact(state).artifact_hash
    uri = f"artifact:///{runtime_hash}.json"
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

    if progress:
        progress(f"compiled in {compile_s:.1f}s; measuring {len(eval_rows)} eval examples")
    started = time.perf_counter()
    compiled_predictions = run_program(state, lm, eval_rows, num_threads=options.num_threads)
    baseline_predictions = run_program(module_state(new_module()), lm, eval_rows, num_threads=options.num_threads)
    eval_s = time.perf_counter() - started
    observed = observed_metrics(eval_rows, compiled_predictions, options.hgrm)
    baseline = observed_metrics(eval_rows, baseline_predictions, options.hgrm)
    measured = {"compiled": observed.pop("_measuredLatencyP95Ms"), "baseline": baseline.pop("_measuredLatencyP95Ms")}
    common = {"schemaVersion": "torghut.dspy.observed-metrics.v1", "datasetHash": result.dataset_hash,
              "metric": options.metric, "createdAt": created_at}
    observed_doc = {**common, "program": "compiled", "artifactHash": result.artifact_hash,
                    "runtimeArtifactHash": runtime_hash, **observed}
    baseline_doc = {**common, "program": "uncompiled (no demos)", **baseline}
    predictions_doc = {"schemaVersion": "torghut.dspy.eval-predictions.v1", "artifactHash": result.artifact_hash,
                       "predictions": [{"id": c.id, "label": e["label"]["action"], "compiled": c.action,
                                        "baseline": b.action, "compiledFallback": c.fallback,
                                        "baselineFallback": b.fallback}
                                       for e, c, b in zip(eval_rows, compiled_predictions, baseline_predictions,
                                                          strict=True)]}
    files = write_compile_result(output_dir, result, extra_files={
        f"{ARTIFACT_DIR}/{runtime_hash}.json": render_artifact(artifact).encode("ascii"),
        OBSERVED_FILE: canonical_bytes(observed_doc), BASELINE_FILE: canonical_bytes(baseline_doc),
        PREDICTIONS_FILE: canonical_bytes(predictions_doc)})
    from torghut_decision_program import load_artifact

    load_artifact(output_dir / ARTIFACT_DIR / f"{runtime_hash}.json", runtime_hash)  # verify what was written
    return {
        "command": "dspy compile", "optimizer": result.optimizer, "seed": options.seed, "metric": options.metric,
        "programName": PROGRAM_NAME, "datasetHash": result.dataset_hash,
        "compiledPromptHash": result.compiled_prompt_hash, "reproducibilityHash": result.reproducibility_hash,
        "artifactHash": result.artifact_hash, "runtimeArtifactHash": runtime_hash, "compiledArtifactUri": uri,
        "artifactDir": str((output_dir / ARTIFACT_DIR).resolve()), "outputDir": str(output_dir.resolve()),
        "demos": metric_bundle["demos"], "trainExamples": len(train_rows), "evalExamples": len(eval_rows),
        "observed": {k: observed[k] for k in ("schemaValidRate", "vetoAlignmentRate", "falseVetoRate",
                                              "fallbackRate", "latencyP95Ms", "actionAccuracy",
                                              "hgrmMeanReward")},
        "baseline": {k: baseline[k] for k in ("vetoAlignmentRate", "falseVetoRate", "actionAccuracy",
                                              "hgrmMeanReward")},
        "measuredLatencyP95Ms": measured, "seconds": {"compile": round(compile_s, 3), "eval": round(eval_s, 3)},
        "files": files,
    }

"""Measuring a program on the eval split: its predictions, and the observed metrics ``dspy compile`` writes.

The metrics' definitions (veto alignment, false veto, fallback, bucketed latency) are in the module
docstring of :mod:`.compile`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..janus.settings import HgrmConfig
from .metrics import hgrm_reward, schema_valid

LATENCY_BUCKETS_MS = (1000, 1800, 5000, 10_000, 30_000, 60_000)


def latency_bucket(ms: float) -> int:
    """The smallest bucket bound at or above ``ms`` (the last bound for anything above it)."""
    return next((b for b in LATENCY_BUCKETS_MS if ms <= b), LATENCY_BUCKETS_MS[-1])


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

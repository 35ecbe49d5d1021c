"""Where the time goes inside each service: its own Prometheus histograms, read before and after a phase.

Every service exposes ``torghut_handler_seconds{topic}`` (time inside the handler, publishes
included); the decision-client adds ``torghut_decision_client_engine_seconds`` (the engine call as
the client sees it) and the decision-engine ``torghut_decision_engine_run_seconds`` (a run from
creation to its terminal event). The difference of ``_sum`` over the difference of ``_count`` is the
mean over the phase, which splits a pipeline stage into "inside the service" and "between services".
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families

HISTOGRAMS = ("torghut_handler_seconds", "torghut_decision_client_engine_seconds",
              "torghut_decision_engine_run_seconds")
Snapshot = dict[str, tuple[float, float]]  # "<service> <histogram>{labels}" -> (sum, count)


async def snapshot(services: Iterable[tuple[str, str]], histograms: Iterable[str] = HISTOGRAMS) -> Snapshot:
    """``(sum, count)`` of every series of ``histograms`` of every ``(name, base url)``."""
    watched = set(histograms)
    out: Snapshot = {}
    async with httpx.AsyncClient(timeout=5.0) as client:
        for name, url in services:
            try:
                text = (await client.get(f"{url}/metrics")).text
            except httpx.HTTPError:
                continue
            for family in text_string_to_metric_families(text):
                if family.name not in watched:
                    continue
                for sample in family.samples:
                    if not sample.name.endswith(("_sum", "_count")):
                        continue
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    key = f"{name} {family.name}{{{labels}}}"
                    total, count = out.get(key, (0.0, 0.0))
                    if sample.name.endswith("_sum"):
                        total = sample.value
                    else:
                        count = sample.value
                    out[key] = (total, count)
    return out


def mean_ms(before: Snapshot, after: Snapshot) -> dict[str, dict[str, float]]:
    """Mean milliseconds and count per series over the phase (series with no new observation left out)."""
    out = {}
    for key, (total, count) in sorted(after.items()):
        total0, count0 = before.get(key, (0.0, 0.0))
        if count > count0:
            out[key] = {"mean_ms": round((total - total0) / (count - count0) * 1000, 2), "n": int(count - count0)}
    return out

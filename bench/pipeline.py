"""The real pipeline, signal to fill, every service its own OS process, as ``torghut demo`` runs it.

decision-engine (deterministic skills, no LM), execution-router (built-in paper venue),
risk-firewall, decision-client and signal-trigger are started with the demo's replay settings
(:data:`torghut_cli.demo.stack.REPLAY_ENV`: event-time clocks for a recorded 2026-02-12 session) on
their own topic prefix and database. The kill switch is turned off with a control command, as an
operator would, and then:

* **latency**: one MACD cross at a time. For every symbol the bench alternates the MACD above and
  below its signal line, so every signal after the first completes a cross (a buy, then a sell
  that closes it). The clock starts when the completing signal is produced and stops when the
  observer reads the ``fill`` trade update whose ``x-correlation-id`` is the trigger's request id,
  so no two samples can be confused. The intermediate topics are read too, which splits each
  sample into its stages. Before the next cross the bench waits (untimed) for the account
  snapshot that follows the fill and then 0.2 s for its consumers to apply it, so the sell sees
  the position it closes and each sample starts on a quiet pipeline, as a bare-chain sample does.
* **decision path**: copies of a real trigger produced at once onto ``torghut.triggers.v1``;
  decisions per second through decision-client and decision-engine.
* **sustained rate**: signals are offered at a rising rate, a few seconds per step, and the
  consumer groups that read ``torghut.ta.signals.v1`` (signal-trigger, risk-firewall and
  execution-router) are watched. A step is sustained when every group consumed at least 90 % of
  what was offered during it and had caught up again within a second after it; the figure is the
  highest sustained step.
* **peak RSS** of every service process (``VmHWM``), read at the end, and **idle CPU** (each
  process, the broker and Postgres, a few seconds with nothing to do).

The phases are modules of their own: :mod:`bench.signal_to_fill`, :mod:`bench.decision_path`,
:mod:`bench.sustained_rate`; the services are started and stopped by :class:`bench.pipeline_stack.Pipeline`,
and this one runs the phases on it and gathers the figures.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .decision_path import decision_burst
from .pipeline_stack import Pipeline
from .scrape import mean_ms, snapshot
from .signal_to_fill import measure_latency
from .sustained_rate import DEFAULT_RATES, sustained_rate


async def run_pipeline(bootstrap: str, admin_url: str, log_dir: Path, *, infra: dict[str, int] | None = None,
                       samples: int = 60, warmup: int = 4,
                       rates: list[int] | None = None, step_s: float = 4.0, idle_s: float = 3.0, burst: int = 60,
                       fetch_max_wait_ms: int = 20) -> dict[str, Any]:
    pipeline = Pipeline(bootstrap, admin_url, log_dir, fetch_max_wait_ms=fetch_max_wait_ms, infra=dict(infra or {}))
    try:
        await pipeline.start()
        figures: dict[str, Any] = {"startup_s": round(pipeline.startup_s, 1), "fetch_max_wait_ms": fetch_max_wait_ms,
                                   "log_dir": str(log_dir)}
        idle = figures["idle_cpu_pct"] = await pipeline.idle_cpu(idle_s)
        endpoints = [(s.name, s.url) for s in pipeline.services]
        metrics_before, cpu_before, started = await snapshot(endpoints), pipeline.cpu(), time.perf_counter()
        figures["latency"] = await measure_latency(pipeline, samples, warmup)
        cpu_after, elapsed = pipeline.cpu(), time.perf_counter() - started
        figures["latency"]["inside_services"] = mean_ms(metrics_before, await snapshot(endpoints))
        crosses = samples + warmup
        figures["latency"]["cpu_ms_per_cross_above_idle"] = {
            name: round(((cpu_after[name] - cpu_before[name]) - idle[name] / 100 * elapsed) * 1000 / crosses, 1)
            for name in cpu_before}
        figures["decision_burst"] = await decision_burst(pipeline, burst)
        figures["rate"] = await sustained_rate(pipeline, rates or list(DEFAULT_RATES), step_s)
        figures["peak_rss_mb"] = pipeline.peak_rss()
        return figures
    finally:
        await pipeline.stop()

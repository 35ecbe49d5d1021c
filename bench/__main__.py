"""``make bench``: the whole suite against the bare broker, in one run, on embedded infrastructure.

    uv run python -m bench [--samples 60] [--rates 25,50,100,...] [--step-s 4] [--fetch-max-wait-ms 20] [--quick]

Starts one EmbeddedStack (Tansu + Postgres) under .torghut/bench/, then measures in order:

1. each service alone: signal-trigger (bench.signal_trigger), risk-firewall core and through the
   broker (bench.risk_firewall), execution-router (bench.execution_router), whitepaper-ingest as its
   own process (bench.whitepaper_ingest), the runtime's per-record floor (bench.runtime_floor), ta
   as its own process, bars to signals and its pure core (bench.ta), and decision-client with the
   reference engine, each its own process (bench.decision_client);
2. the bare limit: a chain of five topics and four aiokafka passthrough processes (bench.bare),
   right before the pipeline it is the baseline of, and again right after it as a check;
3. the real pipeline, every service its own process (bench.pipeline): signal -> fill latency, the
   decision path's burst rate, the sustained signal rate, idle CPU and peak RSS.

It prints one table (each figure beside its bare baseline and the ratio) and writes
bench/results/latest.json. docs/performance.md explains how to read both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from torghut_embedded.stack import EmbeddedStack

from . import decision_client, execution_router, risk_firewall, runtime_floor, signal_trigger, ta, whitepaper_ingest
from .bare import measure_chain
from .burst import run_burst
from .pipeline import run_pipeline
from .report import Row, ceiling, floor, render
from .signal_to_fill import STAGES
from .sustained_rate import DEFAULT_RATES

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"
WORKDIR = REPO_ROOT / ".torghut" / "bench"
RSS_LIMIT_MB = 200.0
STAGE_NAMES = {"torghut.triggers.v1": "signal -> trigger", "torghut.decisions.v1": "trigger -> decision",
               "torghut.orders.approved.v1": "decision -> approved order",
               "torghut.trade-updates.v1": "approved order -> fill"}


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "host": platform.node(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average_1m_at_start": round(load[0], 2)}


def build_rows(r: dict[str, Any]) -> list[Row]:
    bare, pipe = r["bare"], r["pipeline"]
    hop1, hop2, hop5 = bare["hops"]["1"], bare["hops"]["2"], bare["hops"]["5"]
    st, rf, rt, fl = r["signal_trigger"], r["risk_firewall"], r["execution_router"], r["runtime_floor"]
    wp, acked = r["whitepaper_ingest"], bare["produce_acked"]
    per_record = st["passthrough_per_record_per_s"]
    lat = pipe["latency"]["signal_to_fill"]
    ta_latency, ta_throughput = ta.rows(r["ta"], hop1, per_record)
    dc_latency, dc_throughput = decision_client.rows(r["decision_client"], hop1, per_record)
    rows = [
        Row("latency", "bare: 1 hop, produce -> another consumer, p50", hop1["p50_ms"], "ms"),
        Row("latency", "bare: 1 hop, p99", hop1["p99_ms"], "ms"),
        Row("latency", "bare: 5-hop passthrough chain, p50", hop5["p50_ms"], "ms"),
        Row("latency", "bare: 5-hop passthrough chain, p99", hop5["p99_ms"], "ms"),
        Row("latency", "bare: 5-hop chain p50, again after the pipeline", r["bare_after"]["hops"]["5"]["p50_ms"],
            "ms", "5-hop chain p50 before it", hop5["p50_ms"]),
        Row("latency", "bare: produce until acknowledged, p50", acked["p50_ms"], "ms"),
        Row("latency", "pipeline signal -> fill, p50", lat["p50_ms"], "ms", "5-hop chain p50", hop5["p50_ms"],
            "<= 3x", ceiling(lat["p50_ms"], hop5["p50_ms"], 3.0)),
        Row("latency", "pipeline signal -> fill, p99", lat["p99_ms"], "ms", "5-hop chain p99", hop5["p99_ms"]),
        Row("latency", "pipeline signal -> fill, max", lat["max_ms"], "ms", "5-hop chain max", hop5["max_ms"]),
    ]
    for spec in STAGES:
        stage = pipe["latency"]["stages"][spec.name]
        rows.append(Row("latency", f"  stage {STAGE_NAMES[spec.name]}, p50", stage["p50_ms"], "ms", "1 hop p50",
                        hop1["p50_ms"]))
    rows.append(Row("latency", "risk-firewall alone: decision -> verdict, p50", rf.get("verdict_latency_ms_p50"), "ms",
                    "2 hops p50", hop2["p50_ms"]))
    rows.append(Row("latency", "whitepaper-ingest webhook: delivery -> 202, p50", wp["webhook_latency"]["p50_ms"],
                    "ms", "produce acknowledged p50", acked["p50_ms"]))
    rows += ta_latency + dc_latency
    burst = r.get("burst") or {}
    rows.append(Row("latency", f"burst: {burst.get('symbols', '?')} symbols cross in one second, every fill after",
                    burst.get("every_fill_within_s"), "s", target=f"<= {burst.get('target_s', 5.0):.0f} s",
                    met=None if burst.get("every_fill_within_s") is None
                    else burst["every_fill_within_s"] <= burst["target_s"]))
    rows += [
        Row("throughput", "bare: aiokafka passthrough, per record", per_record, "/s"),
        Row("throughput", "bare: aiokafka passthrough, batched", st["passthrough_batched_per_s"], "/s",
            "passthrough per record", per_record),
        Row("throughput", "runtime floor, batched consumer (no-op)", st["runtime_floor_per_s"], "/s",
            "passthrough per record", per_record),
        Row("throughput", "runtime floor, per-record consumer (no-op)", fl["per_record_floor_per_s"], "/s",
            "passthrough per record", per_record),
        Row("throughput", "signal-trigger alone, signals", st["service_signals_per_s"], "/s",
            "passthrough per record", per_record, ">= 0.5x", floor(st["service_signals_per_s"], per_record, 0.5)),
        Row("throughput", "risk-firewall core evaluate_order (1 core)", rf["core_evaluations_per_s"], "/s",
            target=f">= {rf['core_target_per_s']:,}", met=rf["core_meets_target"]),
        Row("throughput", "risk-firewall alone, decisions -> verdicts", rf.get("burst_verdicts_per_s"), "/s",
            "passthrough per record", per_record, ">= 0.5x", floor(rf.get("burst_verdicts_per_s"), per_record, 0.5)),
        Row("throughput", "execution-router alone, price signals", rt["signals_per_s"], "/s",
            "passthrough per record", per_record),
        Row("throughput", "execution-router alone, orders -> fills", rt["fills_per_s"], "/s",
            "passthrough per record", per_record, ">= 0.5x", floor(rt["fills_per_s"], per_record, 0.5)),
        *ta_throughput,
        Row("throughput", "whitepaper-ingest alone, issues -> runs dispatched", wp["runs_dispatched_per_s"], "/s",
            "passthrough per record", per_record),
        Row("throughput", "whitepaper-ingest alone, its CPU per run dispatched", wp["worker_cpu_ms_per_run"], "ms"),
        Row("throughput", "whitepaper-ingest alone, webhook deliveries accepted", wp["webhook_accepted_per_s"],
            "/s", "passthrough per record", per_record),
        *dc_throughput,
        Row("throughput", "pipeline decision path burst, triggers -> decisions",
            pipe["decision_burst"].get("decisions_per_s"), "/s", "passthrough per record", per_record),
        Row("throughput", "pipeline sustained signals (lag stays flat)", pipe["rate"]["sustained_signals_per_s"],
            "/s", "passthrough per record", per_record),
    ]
    alone = {"whitepaper-ingest": wp["peak_rss_mb"], "ta": r["ta"]["peak_rss_mb"]}
    for name, mb in {**pipe["peak_rss_mb"], **alone}.items():
        rows.append(Row("memory", f"peak RSS {name}", mb, "MB", "passthrough process", bare["passthrough_peak_rss_mb"],
                        f"<= {RSS_LIMIT_MB:.0f} MB", None if mb is None else mb <= RSS_LIMIT_MB))
    for name, pct in pipe["idle_cpu_pct"].items():
        rows.append(Row("idle CPU", f"{name}, % of one core doing nothing", pct, "%", "passthrough process",
                        bare["passthrough_idle_cpu_pct"]))
    return rows


@dataclass(frozen=True)
class Plan:
    """How much each phase measures. The defaults are a real run; :meth:`quick` only proves that every
    figure can be measured (``make test`` runs it), its numbers mean little."""

    samples: int = 60
    rates: tuple[int, ...] = DEFAULT_RATES
    step_s: float = 4.0
    fetch_max_wait_ms: int = 20
    bare_samples: int = 200
    trigger_signals: int = signal_trigger.DEFAULT_SIGNALS
    firewall_evaluations: int = 30_000
    firewall_decisions: int = 200
    firewall_burst: int = 500
    router_signals: int = 30_000
    router_orders: int = 900
    papers: int = 100
    webhook_deliveries: int = 400
    floor_records: int = 400
    decision_burst: int = 60
    burst_symbols: int = 500
    ta_symbols: int = 500
    ta_bars_per_symbol: int = 60
    ta_latency_samples: int = 50
    decision_triggers: int = 1500
    decision_symbols: int = 200
    decision_latency_samples: int = 40

    @classmethod
    def quick(cls) -> Plan:
        # Batched consumers take up to 500 records a fetch, the router handles its first few
        # thousand prices while it starts, and it books approved orders in groups of up to 64:
        # fewer records than this leave nothing to time.
        return cls(samples=4, rates=(10,), step_s=1.0, bare_samples=20, trigger_signals=3000,
                   firewall_evaluations=500, firewall_decisions=10, firewall_burst=20, router_signals=20_000,
                   router_orders=200, papers=5, webhook_deliveries=20, floor_records=50, decision_burst=5,
                   burst_symbols=20, ta_symbols=100, ta_bars_per_symbol=20, ta_latency_samples=5,
                   decision_triggers=100, decision_symbols=20, decision_latency_samples=5)


def measure(stack: EmbeddedStack, workdir: Path, plan: Plan, *,
            phase: Callable[[str], None] = lambda _name: None) -> dict[str, Any]:
    """Every phase on one started stack, in order; the figures as ``build_rows`` and ``latest.json`` want them."""
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "settings": asdict(plan)}
    bootstrap, admin, log_dir = stack.kafka_bootstrap, stack.database_url, workdir / "logs"
    phase("signal-trigger alone")
    results["signal_trigger"] = signal_trigger.run(stack, signals=plan.trigger_signals)
    phase("risk-firewall alone")
    results["risk_firewall"] = risk_firewall.run(stack, evaluations=plan.firewall_evaluations,
                                                 decisions=plan.firewall_decisions, burst=plan.firewall_burst)
    phase("execution-router alone")
    results["execution_router"] = execution_router.run(bootstrap, admin, signals=plan.router_signals,
                                                       orders=plan.router_orders)
    phase("whitepaper-ingest alone")
    results["whitepaper_ingest"] = whitepaper_ingest.run(bootstrap, admin, workdir, issues=plan.papers,
                                                         edits=plan.webhook_deliveries)
    phase("runtime floor, per-record consumer")
    results["runtime_floor"] = runtime_floor.run(bootstrap, admin, records=plan.floor_records)
    phase(f"ta alone: {plan.ta_symbols} symbols' bars -> signals, bar -> signal latency, the pure core")
    results["ta"] = ta.run(bootstrap, admin, log_dir, symbols=plan.ta_symbols, bars_per_symbol=plan.ta_bars_per_symbol,
                           samples=plan.ta_latency_samples, fetch_max_wait_ms=plan.fetch_max_wait_ms, infra=stack.pids)
    phase(f"decision-client + engine alone: {plan.decision_triggers} triggers over {plan.decision_symbols} symbols")
    results["decision_client"] = decision_client.run(
        bootstrap, admin, log_dir, triggers=plan.decision_triggers, symbols=plan.decision_symbols,
        samples=plan.decision_latency_samples, fetch_max_wait_ms=plan.fetch_max_wait_ms, infra=stack.pids)
    # The pipeline's baseline is measured right before it, and again right after as a check: this
    # machine's speed changes by up to 2x from one minute to the next, and a ratio of two figures
    # taken minutes apart would measure that instead.
    phase("bare: one hop and the five-hop passthrough chain")
    results["bare"] = asyncio.run(measure_chain(bootstrap, log_dir, samples=plan.bare_samples,
                                                fetch_max_wait_ms=plan.fetch_max_wait_ms))
    phase("the pipeline, every service its own process")
    results["pipeline"] = asyncio.run(run_pipeline(
        bootstrap, admin, log_dir, infra=stack.pids, samples=plan.samples, rates=list(plan.rates),
        step_s=plan.step_s, burst=plan.decision_burst, fetch_max_wait_ms=plan.fetch_max_wait_ms))
    phase("bare again: the five-hop chain after the pipeline (did the machine change speed?)")
    results["bare_after"] = asyncio.run(measure_chain(bootstrap, log_dir, samples=plan.bare_samples,
                                                      fetch_max_wait_ms=plan.fetch_max_wait_ms))
    phase(f"a burst: {plan.burst_symbols} symbols crossing in the same second, to the fills")
    results["burst"] = asyncio.run(run_burst(bootstrap, admin, log_dir, symbols=plan.burst_symbols,
                                             fetch_max_wait_ms=plan.fetch_max_wait_ms))
    results["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["table"] = [row.as_json() for row in build_rows(results)]
    return results


def machine_drift(results: dict[str, Any], tolerance: float = 0.25) -> str | None:
    """A warning when the bare chain measured after the pipeline differs from the one before it by
    more than ``tolerance``: the machine changed speed meanwhile, and this run's ratios are unsure."""
    before, after = (results[k]["hops"]["5"]["p50_ms"] for k in ("bare", "bare_after"))
    if not before or abs(after / before - 1) <= tolerance:
        return None
    return (f"the machine changed speed during the pipeline: the bare five-hop p50 was {before:.1f} ms before it "
            f"and {after:.1f} ms after; the pipeline ratios of this run are unsure, run it again")


def title(results: dict[str, Any]) -> str:
    m = results["machine"]
    return (f"Torghut benchmarks, {m['date']}, {m['cpus']} CPUs, load {m['load_average_1m_at_start']} -> "
            f"{m['load_average_1m_at_end']}, {results['duration_s']:.0f} s "
            f"(KAFKA_FETCH_MAX_WAIT_MS={results['settings']['fetch_max_wait_ms']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=Plan.samples,
                        help="signal -> fill latency samples (after 4 warm-up)")
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)),
                        help="offered signal rates to step through, per second")
    parser.add_argument("--step-s", type=float, default=Plan.step_s, help="seconds per rate step")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=Plan.fetch_max_wait_ms,
                        help="KAFKA_FETCH_MAX_WAIT_MS of the services and of every bare consumer")
    parser.add_argument("--quick", action="store_true",
                        help="a few records per phase: checks that the bench works, in about a minute")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    plan = Plan.quick() if args.quick else Plan(
        samples=args.samples, rates=tuple(int(x) for x in args.rates.split(",")), step_s=args.step_s,
        fetch_max_wait_ms=args.fetch_max_wait_ms)

    started = time.perf_counter()

    def phase(name: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {name}", file=sys.stderr, flush=True)

    shutil.rmtree(WORKDIR, ignore_errors=True)
    with EmbeddedStack(WORKDIR / "infra") as stack:
        results = measure(stack, WORKDIR, plan, phase=phase)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(render([Row.from_json(row) for row in results["table"]], title(results)))
    drift = machine_drift(results)
    if drift is not None:
        print(f"\n{drift}")
    missing = results["pipeline"]["latency"]["missing"]
    if missing:
        print(f"\nlatency samples without a fill ({len(missing)}): {'; '.join(missing)}")
    print(f"\nfigures: {args.out.relative_to(REPO_ROOT) if args.out.is_relative_to(REPO_ROOT) else args.out}   "
          f"service logs: {(WORKDIR / 'logs').relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()

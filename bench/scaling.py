"""Benchmark: how the risk firewall scales with the symbols it trades, its accounts and its replicas, plotted.

    uv run python -m bench.scaling [--burst 500] [--symbols 5,50,500] [--rounds 2]
                                   [--replica-burst 800] [--accounts 1,2,8] [--replicas 1,2,4]

Symbols: for each count, a burst of decisions spread over that many symbols (each with a mark)
goes through the real service on one EmbeddedStack (the firewall bench's broker phase). Every
approval leaves an open order in its symbol, so the account's symbols of interest, whose marks
each decision reads, grow with the count.

Accounts and replicas (:mod:`bench.firewall_replicas`): the firewall as separate processes, one
deployment owning the accounts (``TORGHUT_ACCOUNTS``), over topics with one partition per replica.
The accounts curve runs one replica with 1, 2 and 8 accounts; the replicas curve 1, 2 and 4
replicas sharing 8 accounts. A decision is keyed by account, so accounts are what replicas split.

Rounds are interleaved, so a change of the machine's speed touches every point alike. The figures
go to ``bench/results/scaling.json`` and the plot to ``docs/images/scaling-firewall.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from torghut_embedded.stack import EmbeddedStack

from .firewall_replicas import run_replicas
from .risk_firewall import _bench_broker

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results" / "scaling.json"
PLOT = REPO_ROOT / "docs" / "images" / "scaling-firewall.png"
SHARED_ACCOUNTS = 8
"""The accounts the replicas curve's replicas share (spread evenly over 1, 2 and 4 partitions)."""


def measure(stack: EmbeddedStack, args: argparse.Namespace, logs: Path) -> list[dict[str, Any]]:
    """Every point once per round, rounds interleaved; a row per point and round."""
    symbol_counts = [int(x) for x in args.symbols.split(",")]
    points = sorted({(1, int(a)) for a in args.accounts.split(",")}
                    | {(int(r), SHARED_ACCOUNTS) for r in args.replicas.split(",")})
    rows: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        for count in symbol_counts:
            figures = asyncio.run(_bench_broker(stack.kafka_bootstrap, stack.database_url, 3, args.burst,
                                                symbols=count))
            rows.append({"axis": "symbols", "x": count, "verdicts_per_s": figures["burst_verdicts_per_s"]})
            print(f"  {count:>4} symbols: {figures['burst_verdicts_per_s']:,.1f} verdicts/s", flush=True)
        for replicas, accounts in points:
            run = asyncio.run(run_replicas(stack.kafka_bootstrap, stack.database_url, logs, replicas=replicas,
                                           accounts=accounts, burst=args.replica_burst))
            rows.append({"axis": "replicas", **run.as_dict()})
            print(f"  {replicas} replica(s), {accounts} account(s): {run.verdicts_per_s:,.1f} verdicts/s, "
                  f"{run.cpu_ms_per_decision:.2f} CPU ms/decision, judged {run.judged_by_replica}, "
                  f"{run.approved} approved", flush=True)
    return rows


def _point(rows: list[dict[str, Any]], **where: Any) -> dict[str, Any]:
    chosen = [row for row in rows if all(row.get(k) == v for k, v in where.items())]
    rates = [row["verdicts_per_s"] for row in chosen]
    point: dict[str, Any] = {**where, "verdicts_per_s": [round(r, 1) for r in rates],
                             "median_per_s": round(statistics.median(rates), 1)}
    if "cpu_ms_per_decision" in chosen[0]:
        point["cpu_ms_per_decision"] = round(statistics.median(r["cpu_ms_per_decision"] for r in chosen), 2)
        point["judged_by_replica"] = [r["judged_by_replica"] for r in chosen]
        point["approved"] = chosen[0]["approved"]
    else:
        point["ms_per_decision"] = round(1000 / point["median_per_s"], 2)
    return point


def summarise(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    replica_rows = [row for row in rows if row["axis"] == "replicas"]
    symbol_counts = sorted({row["x"] for row in rows if row["axis"] == "symbols"})
    return {
        "symbols": [_point(rows, axis="symbols", x=x) for x in symbol_counts],
        "accounts": [_point(replica_rows, replicas=1, accounts=a)
                     for a in sorted({r["accounts"] for r in replica_rows if r["replicas"] == 1})],
        "replicas": [_point(replica_rows, replicas=n, accounts=SHARED_ACCOUNTS)
                     for n in sorted({r["replicas"] for r in replica_rows if r["accounts"] == SHARED_ACCOUNTS})],
    }


def plot(summary: dict[str, list[dict[str, Any]]], args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("symbols", "x", "symbols traded (1 account, 1 replica)", "ms_per_decision",
               "ms per decision (burst wall time)", f"a burst of {args.burst} decisions, in-process"),
              ("accounts", "accounts", "accounts (1 replica)", "cpu_ms_per_decision",
               "firewall CPU ms per decision", f"a burst of {args.replica_burst}, one process"),
              ("replicas", "replicas", f"replicas = partitions ({SHARED_ACCOUNTS} accounts)", "cpu_ms_per_decision",
               "firewall CPU ms per decision (all replicas)", f"a burst of {args.replica_burst}, 2 cores")]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    for column, (axis, key, label, cost_key, cost_label, title) in enumerate(panels):
        points = summary[axis]
        xs = [point[key] for point in points]
        rate, cost = axes[0][column], axes[1][column]
        for point in points:
            rate.scatter([point[key]] * len(point["verdicts_per_s"]), point["verdicts_per_s"], color="#1f77b4", s=18)
        rate.plot(xs, [p["median_per_s"] for p in points], color="#1f77b4", marker="o", label="median of rounds")
        rate.set(ylabel="verdicts per second", title=title)
        rate.legend(loc="lower right")
        cost.plot(xs, [p[cost_key] for p in points], color="#d62728", marker="o")
        cost.set(xlabel=label, ylabel=cost_label)
        for ax in (rate, cost):
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
    fig.suptitle("risk-firewall: throughput and cost per decision against symbols, accounts and replicas")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--symbols", default="5,50,500")
    parser.add_argument("--replica-burst", type=int, default=800)
    parser.add_argument("--accounts", default="1,2,8")
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="torghut-scaling-") as scratch, EmbeddedStack(Path(scratch)) as stack:
        summary = summarise(measure(stack, args, Path(scratch) / "logs"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"burst": args.burst, "replica_burst": args.replica_burst, **summary},
                                  indent=2) + "\n")
    plot(summary, args, args.plot)
    for axis, points in summary.items():
        for point in points:
            print(f"{axis}: {json.dumps(point)}")
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()

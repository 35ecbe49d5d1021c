"""Benchmark: how the risk firewall's cost per decision grows with the symbols it trades, plotted.

    uv run python -m bench.scaling [--burst 500] [--symbols 5,50,500] [--rounds 2]

For each symbol count, a burst of decisions spread over that many symbols (each with a mark)
goes through the real service on one EmbeddedStack (the firewall bench's broker phase). Every
approval leaves an open order in its symbol, so the account's symbols of interest, whose marks
each decision reads, grow with the count. The figures go to ``bench/results/scaling.json`` and
the plot to ``docs/images/scaling-firewall.png``.

Replicas are not a dimension here, and docs/performance.md says why: the firewall's state is one
account's, its decisions are keyed by account, so one partition, and one replica, does all of an
account's work whatever the partition and replica counts.
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

from .risk_firewall import _bench_broker

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results" / "scaling.json"
PLOT = REPO_ROOT / "docs" / "images" / "scaling-firewall.png"


def measure(stack: EmbeddedStack, symbol_counts: list[int], burst: int, rounds: int) -> list[dict[str, Any]]:
    rows = []
    for _ in range(rounds):  # interleaved, so a change of the machine's speed touches every count alike
        for count in symbol_counts:
            figures = asyncio.run(_bench_broker(stack.kafka_bootstrap, stack.database_url, 3, burst, symbols=count))
            rows.append({"symbols": count, "verdicts_per_s": figures["burst_verdicts_per_s"]})
            print(f"  {count:>4} symbols: {figures['burst_verdicts_per_s']:,.1f} verdicts/s", flush=True)
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for count in sorted({row["symbols"] for row in rows}):
        rates = [row["verdicts_per_s"] for row in rows if row["symbols"] == count]
        median = statistics.median(rates)
        out.append({"symbols": count, "verdicts_per_s": rates, "median_per_s": round(median, 1),
                    "ms_per_decision": round(1000 / median, 2)})
    return out


def plot(summary: list[dict[str, Any]], burst: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [row["symbols"] for row in summary]
    fig, (rate, cost) = plt.subplots(1, 2, figsize=(10, 4))
    for row in summary:
        rate.scatter([row["symbols"]] * len(row["verdicts_per_s"]), row["verdicts_per_s"], color="#1f77b4", s=18)
    rate.plot(counts, [row["median_per_s"] for row in summary], color="#1f77b4", marker="o", label="median")
    rate.set(xscale="log", xlabel="symbols traded in the burst", ylabel="verdicts per second",
             title=f"risk-firewall, a burst of {burst} decisions")
    rate.set_ylim(bottom=0)
    rate.legend()
    cost.plot(counts, [row["ms_per_decision"] for row in summary], color="#d62728", marker="o")
    cost.set(xscale="log", xlabel="symbols traded in the burst", ylabel="ms per decision (burst wall time)",
             title="cost per decision (one account, one replica)")
    cost.set_ylim(bottom=0)
    for axes in (rate, cost):
        axes.minorticks_off()
        axes.set_xticks(counts, [str(c) for c in counts])
        axes.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--symbols", default="5,50,500")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args()
    counts = [int(x) for x in args.symbols.split(",")]
    with tempfile.TemporaryDirectory(prefix="torghut-scaling-") as scratch, EmbeddedStack(Path(scratch)) as stack:
        summary = summarise(measure(stack, counts, args.burst, args.rounds))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"burst": args.burst, "rows": summary}, indent=2) + "\n")
    plot(summary, args.burst, args.plot)
    for row in summary:
        print(f"{row['symbols']:>5} symbols: median {row['median_per_s']:,.1f} verdicts/s, "
              f"{row['ms_per_decision']} ms per decision")
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()

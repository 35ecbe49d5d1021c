"""Benchmark: the research lane over a million signals (100 symbols x 10,000 one-minute bars, 5 folds).

    uv run python -m bench.research_lane [--symbols 100] [--bars 10000] [--folds 5] [--runs 1]

The signals are generated deterministically (seeded geometric Brownian motion per symbol, the
demo's indicator code over the bars, quotes a few basis points wide) into a JSONL file under
.torghut/bench/, once per size. The lane then runs as its own process on that file with the
reference book and a three-variant grid. The figures: its wall time, its peak memory (the PSS
summed over the lane and its forked workers, sampled every 50 ms, so shared pages count once) and
the largest single process's peak RSS. Targets: under 60 s and under 1.5 GB on the 2-core
machine. Results go to bench/results/research-lane.json; docs/performance.md records them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torghut_cli.demo.make_dataset import WARM_UP_BARS, indicators

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKDIR = REPO_ROOT / ".torghut" / "bench"
RESULTS = REPO_ROOT / "bench" / "results" / "research-lane.json"
SESSION_BARS = 390
FIRST_SESSION = datetime(2026, 1, 5, 14, 31, tzinfo=UTC)  # a Monday, 09:31 New York (before daylight saving)
CONFIG = """version: 1
book_file: {book}
variants:
  macd-rsi-v1: {{cooldown_s: [300, 900, 1800]}}
walk_forward: {{folds: {folds}, purge: 30m, embargo: 30m}}
"""


def session_times(bars: int) -> pd.DatetimeIndex:
    """Minute bars of regular sessions, weekdays only, in UTC."""
    stamps: list[datetime] = []
    day = FIRST_SESSION
    while len(stamps) < bars:
        if day.weekday() < 5:
            stamps += [day + timedelta(minutes=m) for m in range(min(SESSION_BARS, bars - len(stamps)))]
        day += timedelta(days=1)
    return pd.DatetimeIndex(stamps)


def symbol_names(count: int) -> list[str]:
    return [f"S{chr(65 + i // 26 // 26 % 26)}{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}" for i in range(count)]


def generate(path: Path, symbols: int, bars: int) -> None:
    rng = np.random.default_rng(20261204)
    times = session_times(bars)
    stamps = [t.isoformat().replace("+00:00", "Z") for t in times]
    columns: list[dict[str, Any]] = []
    for symbol in symbol_names(symbols):
        returns = rng.normal(0, 0.0008, bars) + np.repeat(rng.normal(0, 0.0002, bars // 45 + 1), 45)[:bars]
        close = 100 * np.exp(np.cumsum(returns))
        spread = np.abs(rng.normal(0, 0.0002, bars))
        frame = pd.DataFrame({"ts": times, "open": np.roll(close, 1), "high": close * (1 + spread),
                              "low": close * (1 - spread), "close": close,
                              "volume": rng.integers(5_000, 50_000, bars)})
        values = indicators(frame)
        half = rng.uniform(0.5, 3.0, bars) / 1e4
        columns.append({"symbol": symbol, "close": close, "bid": close * (1 - half), "ask": close * (1 + half),
                        "volume": frame["volume"].to_numpy(), **{k: values[k].to_numpy() for k in (
                            "macd", "macd_signal", "rsi14")}})
    with path.open("w") as out:
        for i in range(bars):  # time order, symbols interleaved, as a live topic delivers them
            for c in columns:
                signal = {"symbol": c["symbol"], "event_ts": stamps[i], "seq": i + 1, "window": "PT1M",
                          "price": f"{c['close'][i]:.4f}", "bid": f"{c['bid'][i]:.4f}", "ask": f"{c['ask'][i]:.4f}",
                          "volume": str(int(c["volume"][i]))}
                if i >= WARM_UP_BARS:
                    signal |= {"macd": f"{c['macd'][i]:.6f}", "macd_signal": f"{c['macd_signal'][i]:.6f}",
                               "rsi14": f"{c['rsi14'][i]:.4f}"}
                out.write(json.dumps(signal, separators=(",", ":")) + "\n")


def tree_rss_mb(pid: int) -> float:
    """Physical memory of ``pid`` and its live descendants now: the sum of their PSS, so pages a forked
    worker still shares with its parent count once (sampled: a peak between samples is missed)."""
    from torghut_embedded.processes import descendants

    total = 0
    for each in (pid, *descendants(pid)):
        try:
            rollup = Path(f"/proc/{each}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return total / 1024


def run_lane(signals: Path, workdir: Path, folds: int) -> dict[str, Any]:
    config = workdir / "research-config.yaml"
    config.write_text(CONFIG.format(book=REPO_ROOT / "libs/strategies/src/torghut_strategies/reference_book.yaml",
                                    folds=folds))
    policy = REPO_ROOT / "services/research/config/gate-policy.json"
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "torghut_research", "lane", "--signals", str(signals),
                                "--strategy-config", str(config), "--gate-policy", str(policy),
                                "--output-dir", str(workdir / "research-out")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    tree_peak = 0.0
    while process.poll() is None:  # the lane forks workers: their memory counts too
        tree_peak = max(tree_peak, tree_rss_mb(process.pid))
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"the lane failed: {stderr[-2000:]}")
    summary = json.loads(stdout)
    report = json.loads((workdir / "research-out/backtest/evaluation-report.json").read_text())
    return {"wall_s": round(wall, 2), "peak_pss_tree_mb": round(tree_peak, 1),
            "peak_rss_largest_process_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "action": summary["action"], "decisions": report["metrics"]["decision_count"],
            "trades": report["metrics"]["trade_count"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--bars", type=int, default=10_000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    signals = WORKDIR / f"research-signals-{args.symbols}x{args.bars}.jsonl"
    if not signals.exists():
        started = time.perf_counter()
        generate(signals, args.symbols, args.bars)
        print(f"generated {args.symbols * args.bars:,} signals in {time.perf_counter() - started:.1f} s: {signals}")
    runs = [run_lane(signals, WORKDIR, args.folds) for _ in range(args.runs)]
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "signals": args.symbols * args.bars,
              "symbols": args.symbols, "bars": args.bars, "folds": args.folds, "variants": 3,
              "file_mb": round(signals.stat().st_size / 1e6, 1), "runs": runs,
              "targets": {"wall_s": 60, "peak_rss_mb": 1536}}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    for run in runs:
        print(f"research lane, {result['signals']:,} signals, {args.folds} folds, 3 variants: "
              f"{run['wall_s']} s (target < 60), peak memory {run['peak_pss_tree_mb']} MB (PSS, lane and workers) "
              f"(largest process {run['peak_rss_largest_process_mb']} MB; target < 1536)")
    return result


if __name__ == "__main__":
    main()

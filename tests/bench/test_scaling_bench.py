"""``python -m bench.scaling`` keeps working: every axis measured, the replicas share the accounts, a plot.

No speed is asserted (docs/performance.md records the figures); what is asserted is what the bench
promises: each point runs the real service against the embedded broker and Postgres, every decision
of a burst is judged once, the replicas each judge their share, and the plot is drawn.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from aiokafka.partitioner import murmur2
from torghut_embedded.stack import EmbeddedStack

from bench.firewall_replicas import even_accounts
from bench.scaling import SHARED_ACCOUNTS, measure, plot, summarise


@pytest.mark.parametrize("count", [1, 2, 4, 8])
def test_the_accounts_spread_evenly_over_one_two_and_four_partitions(count: int) -> None:
    accounts = even_accounts(count)
    assert len(set(accounts)) == count
    for partitions in (1, 2, 4):
        if count % partitions == 0:
            spread = [(murmur2(a.encode()) & 0x7FFFFFFF) % partitions for a in accounts]
            assert sorted(spread) == sorted(list(range(partitions)) * (count // partitions))


def test_the_summary_takes_each_points_median_and_the_plot_is_a_png(tmp_path: Path) -> None:
    def replica_row(replicas: int, accounts: int, rate: float, cpu: float) -> dict[str, object]:
        return {"axis": "replicas", "replicas": replicas, "accounts": accounts, "burst": 800, "verdicts_per_s": rate,
                "cpu_ms_per_decision": cpu, "judged_by_replica": [800 // replicas] * replicas, "approved": 800}

    rows = [{"axis": "symbols", "x": 5, "verdicts_per_s": v} for v in (600.0, 500.0, 400.0)]
    rows += [{"axis": "symbols", "x": 50, "verdicts_per_s": 250.0}]
    rows += [replica_row(1, 2, 700.0, 1.2), replica_row(1, 8, 650.0, 1.3), replica_row(1, 8, 640.0, 1.1),
             replica_row(2, 8, 950.0, 1.4)]
    summary = summarise(rows)
    assert [(p["x"], p["median_per_s"], p["ms_per_decision"]) for p in summary["symbols"]] == [
        (5, 500.0, 2.0), (50, 250.0, 4.0)]
    assert [(p["accounts"], p["median_per_s"]) for p in summary["accounts"]] == [(2, 700.0), (8, 645.0)]
    assert [(p["replicas"], p["median_per_s"], p["cpu_ms_per_decision"]) for p in summary["replicas"]] == [
        (1, 645.0, 1.2), (2, 950.0, 1.4)]
    args = argparse.Namespace(burst=500, replica_burst=800)
    plot(summary, args, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_a_small_run_measures_every_axis_and_draws_the_plot(embedded_stack: EmbeddedStack, tmp_path: Path) -> None:
    args = argparse.Namespace(burst=20, symbols="5", replica_burst=40, accounts="2", replicas="2", rounds=1)
    summary = summarise(measure(embedded_stack, args, tmp_path / "logs"))
    assert [p["x"] for p in summary["symbols"]] == [5] and summary["symbols"][0]["median_per_s"] > 0
    assert [p["accounts"] for p in summary["accounts"]] == [2]
    (shared,) = summary["replicas"]
    assert shared["replicas"] == 2 and shared["accounts"] == SHARED_ACCOUNTS
    assert shared["judged_by_replica"] == [[20, 20]], "each replica judged its four accounts' half of the burst"
    assert shared["approved"] == 40
    plot(summary, args, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").stat().st_size > 10_000

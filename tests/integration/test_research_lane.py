"""The research lane against the live system: the demo session through Kafka, a replay dump, the lane,
its paper patch loaded by a running signal-trigger that then fires exactly the lane's triggers; and
the lane on real daily bars (GOOG 2004-2013 from PyPI's ``backtesting``) with the demo's indicator code.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiokafka import AIOKafkaProducer
from torghut_cli.demo.make_dataset import WARM_UP_BARS, _dec, indicators
from torghut_cli.demo.processes import ServiceProcess
from torghut_cli.demo.runner import load_session
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_runtime.testing import create_topics_for, read_records
from torghut_signal_trigger.strategy_file import load_strategy_book

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
EVIDENCE = {
    "attested_by": "test", "llm_error_ratio": 0.0, "staleness_ms_p95": 500,
    "operational": {"operational_ready": True, "runbook_validated": True, "kill_switch_dry_run_passed": True,
                    "rollback_dry_run_passed": True},
    "rollback": {"killSwitchDryRunPassed": True, "gitopsRevertDryRunPassed": True,
                 "strategyDisableDryRunPassed": True, "dryRunCompletedAt": "2026-02-12T12:00:00Z",
                 "humanApproved": True, "rollbackTarget": "reference book"},
    "stability_mode_active": True,
}
#: An exploration policy: every gate still runs and reports, but no threshold can refuse. It exercises
#: the path a passing candidate takes (patch written, loadable) on data no honest policy would pass.
EXPLORATION_POLICY = {
    "gate0_max_staleness_ms": 1e15, "gate0_max_null_rate": 1, "gate1_min_decision_count": 0,
    "gate1_min_trade_count": 0, "gate1_min_net_pnl": -1e12, "gate1_max_negative_fold_ratio": 1,
    "gate1_max_net_pnl_cv": 1e12, "gate1_min_deflated_sharpe": 0, "gate2_max_drawdown": 1e12,
    "gate2_max_turnover_ratio": 1e12, "gate2_max_cost_bps": 1e6, "gate2_max_fragility_score": 1,
    "gate2_max_fragility_state_rank": 3, "gate2_require_stability_mode_under_stress": False,
    "gate3_require_forecast_metrics": False, "gate6_require_janus_evidence": False,
    "gate6_min_market_net_pnl_delta": -1e12, "gate6_min_regime_slice_pass_ratio": 0,
    "gate6_min_return_over_drawdown": -1e12, "gate6_max_cost_bps": 1e6, "gate6_max_calibration_error": 1,
    "gate7_max_coverage_error_pass": 1, "gate7_max_coverage_error_degrade": 1, "gate7_max_coverage_error_abstain": 1,
    "gate7_shift_score_degrade": 1, "gate7_shift_score_abstain": 1, "gate7_shift_score_fail": 1,
    "gate7_max_interval_width_pass": 1e9, "gate7_max_interval_width_degrade": 1e9,
    "promotion_uncertainty_max_coverage_error": 1, "promotion_min_decision_count": 0,
}
STALENESS_MS = 86_400_000  # both sides: a replayed stream's watermark depends on its read order, not the code


def run_cli(*argv: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "torghut_research", *argv], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def lane_inputs(tmp_path: Path, config: str) -> list[str]:
    (tmp_path / "config.yaml").write_text(config)
    (tmp_path / "policy.json").write_text(json.dumps(EXPLORATION_POLICY))
    (tmp_path / "evidence.json").write_text(json.dumps(EVIDENCE))
    return ["--strategy-config", str(tmp_path / "config.yaml"), "--gate-policy", str(tmp_path / "policy.json"),
            "--evidence", str(tmp_path / "evidence.json")]


async def test_the_demo_session_through_the_lane_to_a_running_signal_trigger(
        kafka_bootstrap: str, fresh_database_url: str, topic_namespace: str, tmp_path: Path) -> None:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.TA_SIGNALS, topics.TRIGGERS)
    signals_topic = topic_namespace + topics.TA_SIGNALS.name
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for symbol, body, _ in load_session():
            headers = MessageHeaders.new(topics.TA_SIGNALS.name).as_kafka()
            await producer.send(signals_topic, body, key=symbol.encode(), headers=headers)
        await producer.flush()
    finally:
        await producer.stop()

    dump = tmp_path / "dump" / "signals.jsonl"
    dump.parent.mkdir()
    await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "torghut_cli.main", "--bootstrap", kafka_bootstrap,
                                             "replay", "dump", signals_topic, "--out", str(dump)],
                            check=True, capture_output=True, timeout=120)
    config = (f"version: 1\nbook_file: {REPO}/libs/strategies/src/torghut_strategies/reference_book.yaml\n"
              f"walk_forward: {{folds: 4}}\nsignal_gates: {{max_staleness: {STALENESS_MS}ms}}\n"
              "variants: {macd-rsi-v1: {cooldown_s: [120, 600]}, rsi-reversion-v1: {params.oversold: [25, 28]}}\n")
    summary = await asyncio.to_thread(run_cli, "lane", "--signals", str(dump.parent), *lane_inputs(tmp_path, config),
                                      "--output-dir", str(tmp_path / "out"))
    assert summary["action"] == "promote", summary["reasons"]
    patch = Path(summary["paper_patch_path"])
    proposed = {s.id: s for s in load_strategy_book(patch).strategies}
    assert proposed["macd-rsi-v1"].cooldown_s in (120, 600)  # a variant of the grid, not the reference book
    assert proposed["rsi-reversion-v1"].params.oversold in (25, 28)
    results = json.loads((tmp_path / "out/backtest/walkforward-results.json").read_text())
    expected = sorted((t["request_id"], t["strategy_id"], t["symbol"], t["direction"], t["trigger_type"],
                       t["signal_seq"], t["price"]) for t in results["triggers"])
    assert len(expected) > 50

    service = ServiceProcess("signal-trigger", "torghut_signal_trigger", {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": fresh_database_url,
        "TOPIC_PREFIX": topic_namespace, "CLOCK": "event", "STRATEGIES_PATH": str(patch),
        "SIGNAL_MAX_STALENESS_MS": str(STALENESS_MS), "KAFKA_SESSION_TIMEOUT_MS": "1000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "200"}, tmp_path / "logs")
    service.start()
    try:
        await asyncio.to_thread(service.wait_ready, timeout_s=90)
        records = await read_records(kafka_bootstrap, topic_namespace + topics.TRIGGERS.name,
                                     expect=len(expected), timeout=90, settle=2.0)
    finally:
        service.stop(grace_s=10)
    fired = sorted((t.request_id, t.strategy_id, t.symbol, t.direction.value, t.trigger_type, t.signal_seq,
                    str(t.price)) for t in (topics.TRIGGERS.decode(r.value) for r in records))
    assert fired == expected, service.log_tail(30)


def goog_signals(path: Path) -> Path:
    from backtesting.test import GOOG

    bars = GOOG.reset_index().rename(columns={"index": "ts", "Open": "open", "High": "high", "Low": "low",
                                              "Close": "close", "Volume": "volume"})
    values = indicators(bars)
    new_york = ZoneInfo("America/New_York")
    lines = []
    for i, bar in bars.iterrows():
        at = datetime.combine(bar["ts"].date(), time(15, 59), new_york).astimezone(UTC)
        signal = {"symbol": "GOOG", "event_ts": at.isoformat().replace("+00:00", "Z"), "seq": int(i) + 1,
                  "window": "P1D", "price": _dec(bar["close"]), "volume": str(int(bar["volume"]))}
        if int(i) >= WARM_UP_BARS:
            signal |= {"macd": _dec(values["macd"].iloc[i], 6), "macd_signal": _dec(values["macd_signal"].iloc[i], 6),
                       "rsi14": _dec(values["rsi14"].iloc[i], 4)}
        lines.append(json.dumps(signal))
    path.write_text("\n".join(lines) + "\n")
    return path


GOOG_CONFIG = """version: 1
book:
  version: 1
  strategies:
    - id: goog-macd-trend
      type: macd_cross
      universe: [GOOG]
      window: P1D
      cooldown_s: 0
      filters: [{type: rsi_band, buy_max: 75, sell_min: 25}]
variants:
  goog-macd-trend: {params.min_separation: [0, 0.5, 1.0]}
walk_forward: {folds: 5, test_fraction: 0.6, purge: 5d, embargo: 5d}
portfolio: {capital: 100000, position_notional: 50000}
signal_gates: {require_quote: false, max_staleness: 3d}
"""


def test_the_lane_on_real_daily_bars(tmp_path: Path) -> None:
    signals = goog_signals(tmp_path / "goog.jsonl")
    summary = run_cli("lane", "--signals", str(signals), *lane_inputs(tmp_path, GOOG_CONFIG),
                      "--output-dir", str(tmp_path / "out"))
    report = json.loads((tmp_path / "out/backtest/evaluation-report.json").read_text())
    assert report["config"]["variant_count"] == 3
    assert report["multiple_testing"]["trials"] == 3 and report["multiple_testing"]["deflated_sharpe"] is not None
    folds = report["robustness"]["folds"]
    assert len(folds) == 5 and all(f["trade_count"] > 0 for f in folds)
    assert all(f["regime"]["liquidity_flag"] == "unknown" for f in folds)  # daily bars carry no quotes
    # The stress cases re-run the folds: wider spreads cost more on the very same trades.
    assert report["stress"]["spread"]["total_cost"] > report["metrics"]["total_cost"]
    assert report["stress"]["spread"]["net_pnl"] < report["metrics"]["net_pnl"]
    assert report["stress"]["halt"]["net_pnl"] != report["metrics"]["net_pnl"]
    # Under the exploration policy the candidate is proposed, and signal-trigger accepts the patch as it is.
    assert summary["action"] == "promote"
    book = load_strategy_book(Path(summary["paper_patch_path"]))
    assert [s.id for s in book.strategies] == ["goog-macd-trend"]
    values = yaml.safe_load((tmp_path / "out/paper-candidate/helm-values.yaml").read_text())
    mounted = values["services"]["signal-trigger"]
    assert mounted["config"]["STRATEGIES_PATH"] == "/etc/torghut/files/strategies.yaml"
    assert yaml.safe_load(mounted["files"]["strategies.yaml"]) == yaml.safe_load(
        Path(summary["paper_patch_path"]).read_text())
    # And with the shipped policy the same run is held back, with its reasons.
    held = run_cli("lane", "--signals", str(signals), "--strategy-config", str(tmp_path / "config.yaml"),
                   "--gate-policy", str(REPO / "services/research/config/gate-policy.json"),
                   "--evidence", str(tmp_path / "evidence.json"), "--output-dir", str(tmp_path / "held"))
    assert held["action"] == "deny" and "drawdown_exceeds_maximum" in held["reasons"]
    assert held["paper_patch_path"] is None

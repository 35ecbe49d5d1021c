"""The walk-forward: every variant's triggers once, then folds x variants x stress cases as window simulations.

Triggers come from :func:`torghut_strategies.frame.scan` over the whole signal set (a strategy's
memory is warm when a test window starts, as it is live); each window then only counts the
triggers inside it. Per fold, the variant with the best train Sharpe is tested (ties go to the
earlier variant); the stress cases re-run that fold's test window with stressed costs and delays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torghut_contracts.models import StrategyTrigger
from torghut_strategies.book import StrategyBook
from torghut_strategies.frame import scan

from ..config import Candidate
from ..parallel import fork_map, worth_forking
from ..signals import SignalSet
from .calibration import calibrate
from .folds import Fold, layout
from .metrics import bars_per_year, deflated_sharpe, regime, returns_of, window_metrics
from .simulate import Market, Trades, WindowResult, simulate

Metrics = dict[str, Any]


@dataclass(frozen=True)
class BookRun:
    """One book's triggers over the whole set: as rows for the artifacts, and as trades.

    The scan's trigger objects are not kept: a million signals fire a hundred thousand of them.
    """

    book: StrategyBook
    triggers: list[tuple[Any, ...]]
    """One tuple per trigger, fields as :data:`TRIGGER_FIELDS`."""
    suppressed: dict[str, int]
    trades: Trades


TRIGGER_FIELDS = ("row", "request_id", "strategy_id", "symbol", "direction", "trigger_type", "event_ts",
                  "signal_seq", "price")


def _trigger_row(row: int, trigger: StrategyTrigger) -> tuple[Any, ...]:
    return (row, trigger.request_id, trigger.strategy_id, trigger.symbol, trigger.direction.value,
            trigger.trigger_type, trigger.event_ts, trigger.signal_seq, str(trigger.price))


@dataclass
class WalkForwardRun:
    folds: list[Fold]
    variants: list[BookRun]
    baseline: BookRun
    fold_reports: list[dict[str, Any]]
    aggregate: Metrics
    robustness: Metrics
    stress: dict[str, Metrics]
    deflated: Metrics
    calibration: Metrics
    baseline_aggregate: Metrics
    baseline_folds: list[Metrics]
    equity_times: np.ndarray
    equity: np.ndarray
    selected: int
    """The variant the last fold chose: the one a paper patch proposes."""
    bars_per_year: float


def run_book(signals: SignalSet, candidate: Candidate, book: StrategyBook) -> BookRun:
    result = scan(signals.columns, candidate.engine_config(book))
    triggers = [(row, t.strategy_id, t.symbol, t.direction) for row, t in result.triggers]
    suppressed: dict[str, int] = {}
    for _, item in result.suppressed:
        suppressed[item.reason] = suppressed.get(item.reason, 0) + 1
    return BookRun(book, [_trigger_row(row, t) for row, t in result.triggers], dict(sorted(suppressed.items())),
                   Trades.from_triggers(triggers, allow_shorts=candidate.settings.portfolio.allow_shorts))


def _scan_book(state: tuple[SignalSet, Candidate], book: StrategyBook) -> BookRun:
    signals, candidate = state
    return run_book(signals, candidate, book)


def walk_forward(signals: SignalSet, candidate: Candidate, baseline_book: StrategyBook, *,
                 target_coverage: float) -> WalkForwardRun:
    settings = candidate.settings
    portfolio, costs = settings.portfolio, settings.costs
    market = Market(signals)
    per_year = bars_per_year(market.time)
    folds = layout(int(market.time[0]), int(market.time[-1]), settings.walk_forward)
    books = [*candidate.variants, baseline_book]
    *variants, baseline = fork_map(_scan_book, (signals, candidate), books,
                                   parallel=worth_forking(len(signals)))

    def run(trades: Trades, start: int, end: int, stress: Any = None) -> WindowResult:
        if stress is None:
            return simulate(market, trades, start, end, portfolio, costs)
        return simulate(market, trades, start, end, portfolio, costs, stress)

    reports: list[dict[str, Any]] = []
    oos: list[WindowResult] = []
    trial_returns: list[list[np.ndarray]] = [[] for _ in variants]
    stress_results: dict[str, list[WindowResult]] = {case.name: [] for case in settings.stress}
    calibration_inputs = []
    baseline_tests: list[WindowResult] = []
    selected = 0
    for fold in folds:
        trains = [run(v.trades, fold.train_start, fold.train_end) for v in variants]
        tests = [run(v.trades, fold.test_start, fold.test_end) for v in variants]
        train_metrics = [window_metrics(r, portfolio.capital, per_year) for r in trains]
        scores = [m["sharpe"] if m["sharpe"] is not None else float("-inf") for m in train_metrics]
        selected = int(np.argmax(scores)) if len(variants) > 1 else 0
        for index, result in enumerate(tests):
            trial_returns[index].append(returns_of(result, portfolio.capital))
        test = tests[selected]
        oos.append(test)
        calibration_inputs.append((returns_of(trains[selected], portfolio.capital),
                                   returns_of(test, portfolio.capital)))
        stressed = {}
        for case in settings.stress:
            result = run(variants[selected].trades, fold.test_start, fold.test_end, case)
            stress_results[case.name].append(result)
            stressed[case.name] = window_metrics(result, portfolio.capital, per_year)
        baseline_tests.append(run(baseline.trades, fold.test_start, fold.test_end))
        reports.append({"fold": fold.as_json(), "selected_variant": selected,
                        "train": train_metrics[selected], "test": window_metrics(test, portfolio.capital, per_year),
                        "regime": regime(market, fold.test_start, fold.test_end), "stress": stressed,
                        "signals_count": _count(market, fold.test_start, fold.test_end)})

    times, equity = _chain(oos)
    aggregate = _chained_metrics(oos, portfolio.capital, per_year)
    trial_sharpes = [_per_bar_sharpe(np.concatenate(r)) for r in trial_returns]
    deflated = deflated_sharpe(np.concatenate([returns_of(r, portfolio.capital) for r in oos]),
                               [s for s in trial_sharpes if s is not None])
    return WalkForwardRun(
        folds=folds, variants=variants, baseline=baseline, fold_reports=reports, aggregate=aggregate,
        robustness=_robustness(reports, portfolio.capital),
        stress={name: _chained_metrics(runs, portfolio.capital, per_year) for name, runs in stress_results.items()},
        deflated=deflated,
        calibration=calibrate(calibration_inputs, target=target_coverage),
        baseline_aggregate=_chained_metrics(baseline_tests, portfolio.capital, per_year),
        baseline_folds=[window_metrics(r, portfolio.capital, per_year) for r in baseline_tests],
        equity_times=times, equity=equity, selected=selected, bars_per_year=per_year)


def _count(market: Market, start: int, end: int) -> int:
    window = market.window(start, end)
    return window.stop - window.start


def _per_bar_sharpe(returns: np.ndarray) -> float | None:
    if len(returns) < 2 or float(np.std(returns, ddof=1)) == 0:
        return None
    return float(np.mean(returns) / np.std(returns, ddof=1))


def _chain(results: list[WindowResult]) -> tuple[np.ndarray, np.ndarray]:
    """The out-of-sample equity curve: each window's net P&L added on where the last one ended."""
    times, equity, carried = [], [], 0.0
    for result in results:
        times.append(result.times)
        equity.append(result.equity + carried)
        carried += float(result.equity[-1]) if len(result.equity) else 0.0
    if not times:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(times), np.concatenate(equity)


def _chained_metrics(results: list[WindowResult], capital: float, per_year: float) -> Metrics:
    times, equity = _chain(results)
    merged = WindowResult(
        times=times, equity=equity, gross_pnl=sum(r.gross_pnl for r in results),
        total_cost=sum(r.total_cost for r in results), turnover_notional=sum(r.turnover_notional for r in results),
        average_exposure=float(np.mean([r.average_exposure for r in results])) if results else 0.0,
        fill_count=sum(r.fill_count for r in results), trade_count=sum(r.trade_count for r in results),
        decision_count=sum(r.decision_count for r in results),
        capacity_warnings=sum(r.capacity_warnings for r in results),
        fills_without_volume=sum(r.fills_without_volume for r in results))
    return window_metrics(merged, capital, per_year)


def _robustness(reports: list[dict[str, Any]], capital: float) -> Metrics:
    """Fold stability (upstream's names) plus the Sharpe of fold returns."""
    net = np.array([r["test"]["net_pnl"] for r in reports], dtype=np.float64)
    mean = float(np.mean(net)) if len(net) else 0.0
    deviation = float(np.std(net)) if len(net) > 1 else 0.0
    fold_returns = net / capital
    spread = float(np.std(fold_returns, ddof=1)) if len(net) > 1 else 0.0
    return {
        "method": "walk_forward_folds", "fold_count": len(reports), "net_pnl_mean": mean, "net_pnl_std": deviation,
        "net_pnl_cv": deviation / abs(mean) if mean else None,
        "worst_fold_net_pnl": float(np.min(net)) if len(net) else 0.0,
        "best_fold_net_pnl": float(np.max(net)) if len(net) else 0.0,
        "negative_fold_count": int(np.count_nonzero(net < 0)),
        "negative_fold_ratio": float(np.count_nonzero(net < 0)) / len(net) if len(net) else 0.0,
        "fold_return_sharpe": float(np.mean(fold_returns)) / spread if spread else None,
    }

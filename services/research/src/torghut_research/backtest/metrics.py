"""Performance figures of a window, the deflated Sharpe ratio, and regime labels.

Returns are per bar: the change of equity between consecutive event times over the capital.
Sharpe and Sortino are annualised by the bars per year the data's own spacing implies (a bar a
minute in a 6.5-hour session: 252 x 390; a bar a day: 252).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from .simulate import Market, WindowResult

Floats = npt.NDArray[np.float64]
_NORMAL = NormalDist()
_EULER_GAMMA = 0.5772156649015329
SESSION_SECONDS = 6.5 * 3600


def bars_per_year(times: npt.NDArray[np.int64]) -> float:
    """Annualisation from the median spacing of distinct event times (gaps over a day count as a day)."""
    distinct = np.unique(times)
    if len(distinct) < 2:
        return 252.0
    spacing = float(np.median(np.diff(distinct))) / 1e9
    if spacing >= 86400 * 0.5:
        return 252.0 * max(1.0, 86400 / spacing)
    return 252.0 * SESSION_SECONDS / spacing


def returns_of(result: WindowResult, capital: float) -> Floats:
    equity = np.concatenate([[0.0], result.equity])
    return np.diff(equity) / capital


def sharpe(returns: Floats, per_year: float) -> float | None:
    if len(returns) < 2:
        return None
    deviation = float(np.std(returns, ddof=1))
    return None if deviation == 0 else float(np.mean(returns)) / deviation * math.sqrt(per_year)


def sortino(returns: Floats, per_year: float) -> float | None:
    if len(returns) < 2:
        return None
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    return None if downside == 0 else float(np.mean(returns)) / downside * math.sqrt(per_year)


def max_drawdown(equity: Floats) -> float:
    """The largest fall from a running peak (the peak starts at 0: the window starts flat)."""
    if not len(equity):
        return 0.0
    path = np.concatenate([[0.0], equity])
    return float(np.max(np.maximum.accumulate(path) - path))


def window_metrics(result: WindowResult, capital: float, per_year: float) -> dict[str, float | int | None]:
    returns = returns_of(result, capital)
    net = float(result.equity[-1]) if len(result.equity) else 0.0
    drawdown = max_drawdown(result.equity)
    return {
        "decision_count": result.decision_count,
        "fill_count": result.fill_count,
        "trade_count": result.trade_count,
        "gross_pnl": result.gross_pnl,
        "total_cost": result.total_cost,
        "net_pnl": net,
        "return": net / capital,
        "sharpe": sharpe(returns, per_year),
        "sortino": sortino(returns, per_year),
        "max_drawdown": drawdown,
        "max_drawdown_pct": drawdown / capital,
        "turnover_notional": result.turnover_notional,
        "turnover_ratio": result.turnover_notional / result.average_exposure if result.average_exposure else 0.0,
        "turnover_capital": result.turnover_notional / capital,
        "average_exposure": result.average_exposure,
        "exposure_ratio": result.average_exposure / capital,
        "cost_bps": result.total_cost / result.turnover_notional * 1e4 if result.turnover_notional else 0.0,
        "capacity_warnings": result.capacity_warnings,
        "fills_without_volume": result.fills_without_volume,
    }


def deflated_sharpe(returns: Floats, trial_sharpes: list[float]) -> dict[str, float | int | None]:
    """Bailey & López de Prado (2014): the probability the true per-bar Sharpe beats the best of N luck.

    ``trial_sharpes`` are the per-bar Sharpe ratios of every variant tried (the grid); with one
    trial the benchmark is 0 and this is the probabilistic Sharpe ratio.
    """
    n = len(returns)
    trials = max(len(trial_sharpes), 1)
    if n < 3 or float(np.std(returns)) == 0:
        return {"deflated_sharpe": None, "per_bar_sharpe": None, "benchmark_sharpe": None, "trials": trials,
                "observations": n, "skewness": None, "kurtosis": None}
    mean, deviation = float(np.mean(returns)), float(np.std(returns, ddof=1))
    ratio = mean / deviation
    centred = returns - mean
    second = float(np.mean(centred**2))
    skewness = float(np.mean(centred**3)) / second**1.5
    kurtosis = float(np.mean(centred**4)) / second**2
    benchmark = 0.0
    if trials > 1:
        spread = float(np.std(trial_sharpes, ddof=1)) if len(trial_sharpes) > 1 else 0.0
        benchmark = spread * ((1 - _EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / trials)
                              + _EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (trials * math.e)))
    denominator = 1 - skewness * ratio + (kurtosis - 1) / 4 * ratio**2
    value = _NORMAL.cdf((ratio - benchmark) * math.sqrt(n - 1) / math.sqrt(max(denominator, 1e-12)))
    return {"deflated_sharpe": value, "per_bar_sharpe": ratio, "benchmark_sharpe": benchmark, "trials": trials,
            "observations": n, "skewness": skewness, "kurtosis": kurtosis}


def regime(market: Market, start: int, end: int) -> dict[str, str]:
    """Volatility, trend and liquidity of the market in a window (upstream's buckets, research-lane.md §1.4)."""
    window = market.window(start, end)
    price, symbol = market.price[window], market.symbol[window]
    changes, trends = [], []
    for code in np.unique(symbol):
        series = price[symbol == code]
        series = series[~np.isnan(series)]
        if len(series) >= 2:
            changes.append(np.abs(np.diff(series) / series[:-1]))
            trends.append(series[-1] / series[0] - 1)
    if changes:
        mean_change = float(np.mean(np.concatenate(changes)))
        volatility = "low" if mean_change < 0.002 else "mid" if mean_change < 0.01 else "high"
        mean_trend = float(np.mean(trends))
        trend = "up" if mean_trend >= 0.002 else "down" if mean_trend <= -0.002 else "flat"
    else:
        volatility = trend = "unknown"
    spreads = market.spread_bps[window]
    spreads = spreads[~np.isnan(spreads)]
    liquidity = "unknown" if not len(spreads) else "liquid" if float(np.median(spreads)) <= 10 else "illiquid"
    return {"label": f"vol={volatility}|trend={trend}|liq={liquidity}", "volatility_bucket": volatility,
            "trend_bucket": trend, "liquidity_flag": liquidity}

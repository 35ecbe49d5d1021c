"""Build the demo's market session: minute bars, then TA signals computed by ``stockstats``.

The bars file is in market-data's CSV format (``symbol,start,open,high,low,close,volume``, in time
order), so ``torghut demo --from-bars`` can send it through market-data's file source and ta.

Where the bars come from: no market-data feed is reachable from where this project is built, so
the bars are *realistic, not real*: a seeded geometric Brownian motion per symbol, with the
U-shaped intraday volatility and volume of US equities (busy open and close, quiet lunch), slow
trend regimes so that MACD crosses happen, quotes a few basis points wide and, rarely, a wide or
crossed quote of the kind a real feed delivers. The same seed always produces the same file.

The indicators (EMA12/26, MACD 12/26/9 with its signal and histogram, RSI14) are computed by
``stockstats`` (PyPI), a maintained pandas-based TA library (the session VWAP, which it lacks, is
the cumulative typical-price x volume over volume); the early bars where an indicator is
still undefined carry no value, exactly as a live TA job emits them, and signal-trigger gates them.

Run ``uv run python -m torghut_cli.demo.make_dataset`` to regenerate; a test checks that the
committed files are what this script produces.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from stockstats import wrap

DATASET_DIR = Path(__file__).parent / "dataset"
SESSION_DATE = "2026-02-12"
SEED = 20260212
MINUTES = 390
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Instrument:
    symbol: str
    open_price: float
    daily_vol: float
    avg_volume: int


INSTRUMENTS = (
    Instrument("AAPL", 231.40, 0.016, 60_000),
    Instrument("MSFT", 412.10, 0.014, 25_000),
    Instrument("NVDA", 182.75, 0.030, 180_000),
    Instrument("AMD", 161.20, 0.028, 50_000),
    Instrument("SPY", 601.30, 0.009, 90_000),
)


def _u_shape(minute: int) -> float:
    x = minute / (MINUTES - 1)
    return 0.6 + 1.8 * (x - 0.5) ** 2 * 4 / 2


def session_bars(instrument: Instrument, rng: random.Random) -> pd.DataFrame:
    open_at = datetime.fromisoformat(f"{SESSION_DATE}T09:30:00").replace(tzinfo=NEW_YORK)
    per_minute_vol = instrument.daily_vol / math.sqrt(MINUTES)
    price = instrument.open_price
    drift = 0.0
    rows = []
    for minute in range(MINUTES):
        if minute % 45 == 0:  # a new trend regime every 45 minutes
            drift = rng.gauss(0, per_minute_vol * 0.35)
        sigma = per_minute_vol * _u_shape(minute)
        path = [price]
        for _ in range(4):  # four sub-steps make a believable high/low
            path.append(path[-1] * math.exp(drift / 4 + rng.gauss(0, sigma / 2)))
        close = path[-1]
        volume = int(instrument.avg_volume * _u_shape(minute) * rng.lognormvariate(0, 0.35))
        rows.append({
            "ts": (open_at + timedelta(minutes=minute + 1)).astimezone(UTC),
            "open": price, "high": max(path), "low": min(path), "close": close, "volume": max(volume, 100),
        })
        price = close
    return pd.DataFrame(rows)


def _dec(value: float, places: int = 4) -> str | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return str(Decimal(repr(round(float(value), places))))


#: Bars before every indicator is defined: MACD's signal line needs 26 + 9 - 1 bars, RSI 14 + 1.
WARM_UP_BARS = 33


def indicators(bars: pd.DataFrame) -> pd.DataFrame:
    """MACD 12/26/9 (line, signal, histogram), RSI14, EMA12/26 and the cumulative VWAP of OHLCV ``bars``.

    ``bars`` has columns ts, open, high, low, close, volume in time order; the research lane's
    tests compute real bars' indicators with this too, so backtests see what the demo's TA sees.
    """
    stats = wrap(bars.rename(columns={"ts": "date"}).copy())
    typical = (bars["high"] + bars["low"] + bars["close"]) / 3  # session VWAP: stockstats has none
    return pd.DataFrame({
        "macd": stats["macd"].to_numpy(), "macd_signal": stats["macds"].to_numpy(),
        "macd_hist": stats["macdh"].to_numpy(), "rsi14": stats["rsi_14"].to_numpy(),
        "ema12": stats["close_12_ema"].to_numpy(), "ema26": stats["close_26_ema"].to_numpy(),
        "vwap": ((typical * bars["volume"]).cumsum() / bars["volume"].cumsum()).to_numpy(),
    }, index=bars.index)


def signals_for(instrument: Instrument, bars: pd.DataFrame, rng: random.Random) -> list[dict[str, object]]:
    values = indicators(bars)
    macd, macds, macdh = values["macd"], values["macd_signal"], values["macd_hist"]
    rsi, ema12, ema26, vwap = values["rsi14"], values["ema12"], values["ema26"], values["vwap"]
    out = []
    for i, bar in bars.iterrows():
        close = float(bar["close"])
        half_spread_bps = rng.uniform(0.5, 3.0)
        roll = rng.random()
        if roll < 0.004:
            half_spread_bps = rng.uniform(30, 60)  # a wide quote
        bid = close * (1 - half_spread_bps / 10_000)
        ask = close * (1 + half_spread_bps / 10_000)
        if 0.004 <= roll < 0.006:
            bid, ask = ask, bid  # a crossed quote, as feeds occasionally deliver
        warm = int(i) >= WARM_UP_BARS
        signal = {
            "symbol": instrument.symbol,
            "event_ts": bar["ts"].isoformat().replace("+00:00", "Z"),
            "seq": int(i) + 1,
            "source": "ta",
            "window": "PT1M",
            "price": _dec(close),
            "macd": _dec(macd.iloc[i], 6) if warm else None,
            "macd_signal": _dec(macds.iloc[i], 6) if warm else None,
            "macd_hist": _dec(macdh.iloc[i], 6) if warm else None,
            "rsi14": _dec(rsi.iloc[i], 4) if warm else None,
            "ema12": _dec(ema12.iloc[i]),
            "ema26": _dec(ema26.iloc[i]),
            "vwap": _dec(vwap.iloc[i]),
            "bid": _dec(bid),
            "ask": _dec(ask),
            "bid_size": str(rng.randint(1, 20) * 100),
            "ask_size": str(rng.randint(1, 20) * 100),
            "spread_bps": _dec(abs(ask - bid) / close * 10_000, 3),
            "volume": str(int(bar["volume"])),
        }
        out.append({k: v for k, v in signal.items() if v is not None})
    return out


def build() -> tuple[str, str, str]:
    """(bars CSV, signals JSONL, quotes CSV) of the session."""
    rng = random.Random(SEED)
    bars_out: list[tuple[str, str, str]] = []
    signals = []
    for instrument in INSTRUMENTS:
        bars = session_bars(instrument, rng)
        for _, bar in bars.iterrows():
            start = (bar["ts"] - timedelta(minutes=1)).isoformat()  # ``ts`` is the bar's close
            bars_out.append((start, instrument.symbol,
                             f"{instrument.symbol},{start},{_dec(bar['open'])},{_dec(bar['high'])},"
                             f"{_dec(bar['low'])},{_dec(bar['close'])},{int(bar['volume'])}"))
        signals.extend(signals_for(instrument, bars, rng))
    signals.sort(key=lambda s: (str(s["event_ts"]), str(s["symbol"])))
    bars_out.sort()  # as a feed delivers them: minute by minute, every symbol's bar of a minute together
    bars_csv = "symbol,start,open,high,low,close,volume\n" + "\n".join(row for *_, row in bars_out) + "\n"
    signals_jsonl = "".join(json.dumps(s, separators=(",", ":")) + "\n" for s in signals)
    return bars_csv, signals_jsonl, quotes_csv(signals)


def quotes_csv(signals: list[dict[str, object]]) -> str:
    """Each signal's quote as market-data's quotes file, stamped a second before the bar's close, so
    ``--from-bars`` gives ta the same bid and ask the precomputed signals carry."""
    lines = ["symbol,ts,bid,ask,bid_size,ask_size"]
    for signal in signals:
        ts = (datetime.fromisoformat(str(signal["event_ts"])) - timedelta(seconds=1)).isoformat()
        lines.append(f"{signal['symbol']},{ts},{signal['bid']},{signal['ask']},{signal['bid_size']},"
                     f"{signal['ask_size']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    bars_csv, signals_jsonl, quotes = build()
    DATASET_DIR.mkdir(parents=True, exist_ok=True)
    (DATASET_DIR / f"bars-{SESSION_DATE}.csv").write_text(bars_csv)
    (DATASET_DIR / f"signals-{SESSION_DATE}.jsonl").write_text(signals_jsonl)
    (DATASET_DIR / f"quotes-{SESSION_DATE}.csv").write_text(quotes)
    print(f"wrote {signals_jsonl.count(chr(10))} signals to {DATASET_DIR}")


if __name__ == "__main__":
    main()

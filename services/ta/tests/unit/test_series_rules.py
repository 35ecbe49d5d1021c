"""The domain's rules for awkward bars and stale quotes, and the session/window VWAPs, in memory."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from torghut_contracts.models import BarOrigin, MarketBar, MarketQuote
from torghut_ta.domain.series import Rules, SeriesState, Skip, admit, apply, screen
from torghut_ta.domain.window import parse_window

D = Decimal
OPEN = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)  # 09:30 New York (EST)


def bar(minute: int, close: str = "100", *, symbol: str = "AAPL", volume: str = "100",
        origin: BarOrigin = BarOrigin.STREAM, vwap: str | None = None, window: str = "PT1M") -> MarketBar:
    c = D(close)
    return MarketBar(symbol=symbol, start=OPEN + timedelta(minutes=minute), window=window, open=c, high=c + 1,
                     low=c - 1, close=c, volume=D(volume), origin=origin, vwap=D(vwap) if vwap else None)


def quote(at: datetime, bid: str = "99.9", ask: str = "100.1") -> MarketQuote:
    return MarketQuote(symbol="AAPL", ts=at, bid=D(bid), ask=D(ask), bid_size=D(3), ask_size=D(4))


def run(state: SeriesState, *bars: MarketBar, rules: Rules | None = None) -> list[Skip | None]:
    """Each bar through admit -> screen -> apply, as the handler does; the skip reason of each."""
    rules = rules or Rules()
    out: list[Skip | None] = []
    for item in bars:
        skip = admit(item, rules) or screen(state, item)
        if skip is None:
            apply(state, item, None, rules)
        out.append(skip)
    return out


def test_a_duplicate_changes_nothing() -> None:
    state = SeriesState("AAPL", "PT1M")
    run(state, bar(0), bar(1, "101"))
    before = pickle.dumps(state)
    assert run(state, bar(1, "105")) == [Skip.DUPLICATE]
    assert pickle.dumps(state) == before and state.seq == 2


def test_a_late_bar_is_not_applied() -> None:
    state = SeriesState("AAPL", "PT1M")
    assert run(state, bar(0), bar(2), bar(1)) == [None, None, Skip.LATE]
    assert state.seq == 2 and state.last_start == OPEN + timedelta(minutes=2)


def test_a_correction_of_an_applied_window_is_counted_not_applied() -> None:
    state = SeriesState("AAPL", "PT1M")
    run(state, bar(0), bar(1))
    before = pickle.dumps(state)
    assert run(state, bar(1, "90", origin=BarOrigin.CORRECTION), bar(0, "90", origin=BarOrigin.CORRECTION)) == [
        Skip.CORRECTION, Skip.CORRECTION]
    assert pickle.dumps(state) == before
    assert run(state, bar(2, origin=BarOrigin.CORRECTION)) == [None], "a window not applied yet is just a bar"


def test_an_unknown_symbol_is_skipped_only_with_a_universe() -> None:
    only_msft = Rules(universe=frozenset({"MSFT"}))
    assert admit(bar(0), only_msft) is Skip.UNKNOWN_SYMBOL
    assert admit(bar(0, symbol="MSFT"), only_msft) is None
    assert admit(bar(0), Rules()) is None


def test_windows() -> None:
    assert parse_window("PT1M") == timedelta(minutes=1)
    assert parse_window("PT1S") == timedelta(seconds=1)
    assert parse_window("P1D") == timedelta(days=1)
    assert parse_window("PT0.5S") == timedelta(milliseconds=500)
    for bad in ("P", "PT", "1M", "PT0S", "P1M", "P1DT", "minute"):
        assert parse_window(bad) is None, bad
    assert admit(bar(0, window="P1Y"), Rules()) is Skip.BAD_WINDOW


def test_signal_fields() -> None:
    state = SeriesState("AAPL", "PT1M")
    signals = [apply(state, bar(i, str(100 + i % 7)), None, Rules()) for i in range(40)]
    first, last = signals[0], signals[-1]
    assert first.event_ts == OPEN + timedelta(minutes=1), "event_ts is the bar's close"
    assert [s.seq for s in signals] == list(range(1, 41))
    assert first.price == D(100) and first.volume == D(100) and first.window == "PT1M" and first.source == "ta"
    assert first.warmup is True and first.macd is None and first.ema12 is None
    assert [s.warmup for s in signals].index(False) == 33, "warm once the MACD signal line exists (34 bars)"
    assert None not in (last.macd, last.macd_signal, last.rsi14, last.boll_upper, last.atr14)


def test_quote_freshness() -> None:
    rules = Rules(quote_max_age=timedelta(seconds=15))
    close = OPEN + timedelta(minutes=1)
    fresh = apply(SeriesState("AAPL", "PT1M"), bar(0), quote(close - timedelta(seconds=15)), rules)
    assert (fresh.bid, fresh.ask, fresh.bid_size, fresh.ask_size) == (D("99.9"), D("100.1"), D(3), D(4))
    assert fresh.spread_bps == D("20.00000000")
    stale = apply(SeriesState("AAPL", "PT1M"), bar(0), quote(close - timedelta(seconds=15, microseconds=1)), rules)
    assert (stale.bid, stale.ask, stale.bid_size, stale.ask_size, stale.spread_bps) == (None,) * 5
    after = apply(SeriesState("AAPL", "PT1M"), bar(0), quote(close + timedelta(seconds=2)), rules)
    assert after.bid == D("99.9"), "a quote newer than the close is the market now: carried"
    one_sided = apply(SeriesState("AAPL", "PT1M"), bar(0), quote(close, bid="0"), rules)
    assert one_sided.bid is None and one_sided.ask == D("100.1") and one_sided.spread_bps is None
    crossed = apply(SeriesState("AAPL", "PT1M"), bar(0), quote(close, bid="101"), rules)
    assert crossed.bid == D(101) and crossed.spread_bps is None, "crossed: carried as reported, no spread"


def test_session_vwap_resets_at_the_open_and_ignores_premarket() -> None:
    state, rules = SeriesState("AAPL", "PT1M"), Rules()
    pre = apply(state, bar(-1, "50", volume="1000"), None, rules)  # 09:29: no session
    assert pre.vwap is None and pre.vwap_w5m is not None
    s1 = apply(state, bar(0, "100", vwap="100"), None, rules)
    s2 = apply(state, bar(1, "110", volume="300", vwap="110"), None, rules)
    assert s1.vwap == D(100), "the pre-market bar does not count"
    assert s2.vwap == D("107.5")
    next_day = apply(state, bar(24 * 60, "200", vwap="200"), None, rules)
    assert next_day.vwap == D(200), "a new session starts from nothing"


def test_window_vwap_covers_bars_starting_within_five_minutes() -> None:
    state, rules = SeriesState("AAPL", "PT1M"), Rules()
    signals = [apply(state, bar(i, str(100 + i), vwap=str(100 + i)), None, rules) for i in range(7)]
    assert signals[4].vwap_w5m == D(102), "minutes 0-4"
    assert signals[6].vwap_w5m == D(104), "minutes 2-6: minute 1 started 5 minutes before minute 6"
    gap = apply(state, bar(20, "150", vwap="150"), None, rules)
    assert gap.vwap_w5m == D(150), "after a gap only the latest bar is in the window"


def test_zero_volume_has_no_vwap() -> None:
    signal = apply(SeriesState("AAPL", "PT1M"), bar(0, volume="0"), None, Rules())
    assert signal.vwap is None and signal.vwap_w5m is None


def test_a_pickled_state_continues_exactly() -> None:
    """What the store does between batches: the restored series computes what the live one would."""
    rules = Rules()
    bars = [bar(i, str(100 + (i * 37) % 11)) for i in range(200)]
    whole = SeriesState("AAPL", "PT1M")
    expected = [apply(whole, b, None, rules) for b in bars]
    state = SeriesState("AAPL", "PT1M")
    got = [apply(state, b, None, rules) for b in bars[:77]]
    state = pickle.loads(pickle.dumps(state))
    got += [apply(state, b, None, rules) for b in bars[77:]]
    assert got == expected

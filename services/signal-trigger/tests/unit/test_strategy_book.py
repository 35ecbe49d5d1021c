"""The strategy book is validated at start-up, and every error names the bad key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from torghut_runtime import ConfigError
from torghut_signal_trigger.strategy_file import load_strategy_book
from torghut_strategies.book import MacdCrossStrategy, RsiReversionStrategy
from torghut_strategies.engine import EngineConfig, evaluate
from torghut_strategies.state import SymbolState
from torghut_strategies.testing import make_signal

GOOD = """
version: 1
strategies:
  - id: macd-rsi-v1
    type: macd_cross
    universe: [AAPL, NVDA]
    filters: [{type: rsi_band, buy_max: 70, sell_min: 30}]
  - id: rsi-reversion-v1
    type: rsi_reversion
    universe: "*"
    params: {oversold: 25, oversold_exit: 35, overbought_exit: 65, overbought: 75}
"""


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "book.yaml"
    path.write_text(text)
    return load_strategy_book(path)


def test_the_packaged_default_book_is_valid() -> None:
    book = load_strategy_book(None)
    assert {type(s) for s in book.strategies} == {MacdCrossStrategy, RsiReversionStrategy}


def test_a_valid_book(tmp_path: Path) -> None:
    book = load(tmp_path, GOOD)
    assert [s.id for s in book.for_symbol("AAPL", None)] == ["macd-rsi-v1", "rsi-reversion-v1"]
    assert [s.id for s in book.for_symbol("MSFT", None)] == ["rsi-reversion-v1"]


@pytest.mark.parametrize(("edit", "expected"), [
    (("universe: [AAPL, NVDA]", "universe: [AAPL, nvda]"), "strategies[0].universe"),
    (("universe: [AAPL, NVDA]", "universe: []"), "strategies[0].universe"),
    (("type: macd_cross", "type: macd_crossover"), "strategies[0]: unknown type 'macd_crossover'"),
    (("    type: macd_cross\n", ""), "strategies[0]: missing 'type'"),
    (("buy_max: 70", "buy_max: 170"), "strategies[0].filters[0].buy_max"),
    (("{type: rsi_band,", "{type: rsi_bands,"), "strategies[0].filters[0]: unknown type 'rsi_bands'"),
    (("sell_min: 30}", "sell_min: 30, sel_max: 3}"), "strategies[0].filters[0].sel_max: unknown key"),
    (("oversold: 25", "oversold: 40"), "strategies[1].params: levels must satisfy"),
    (("oversold: 25", "oversoldd: 25"), "strategies[1].params.oversoldd: unknown key"),
    (("id: rsi-reversion-v1", "id: macd-rsi-v1"), "strategies: strategy id 'macd-rsi-v1' appears twice"),
    (("id: macd-rsi-v1", "id: MACD RSI"), "strategies[0].id"),
    (("version: 1", "version: 2"), "version"),
    (("    universe: \"*\"\n", ""), "strategies[1].universe: Field required"),
    (("strategies:", "strategy:"), "strategy: unknown key"),
], ids=lambda v: v if isinstance(v, str) else v[1].strip())
def test_errors_name_the_bad_key(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    assert edit[0] in GOOD
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, GOOD.replace(edit[0], edit[1], 1))
    message = str(raised.value)
    assert expected in message, message
    assert "STRATEGIES_PATH=" in message


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"STRATEGIES_PATH=.*cannot read"):
        load_strategy_book(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(tmp_path, "version: [1\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load(tmp_path, "- 1\n")


def test_the_default_book_runs_both_strategies() -> None:
    book = load_strategy_book(None)
    signals = [
        make_signal(1, macd=Decimal(-1), rsi14=Decimal(50)),
        make_signal(2, macd=Decimal(1), rsi14=Decimal(50)),    # MACD crosses up, RSI neutral: macd-rsi-v1 buys
        make_signal(3, macd=Decimal(2), rsi14=Decimal(29)),    # RSI enters oversold: rsi-reversion-v1 buys
        make_signal(4, macd=Decimal(-1), rsi14=Decimal(29)),   # MACD crosses down into an oversold RSI: filtered
    ]
    state, outcomes = SymbolState("AAPL"), []
    for signal in signals:
        evaluation = evaluate(state, signal, EngineConfig(book), reference_time=signal.event_ts)
        state = evaluation.state
        outcomes += [(signal.seq, t.trigger_type) for t in evaluation.triggers]
        outcomes += [(signal.seq, f"suppressed:{s.reason}") for s in evaluation.suppressed]
    assert outcomes == [(2, "macd_cross_up"), (3, "rsi_oversold_reversion"), (4, "suppressed:filter_rsi_oversold")]

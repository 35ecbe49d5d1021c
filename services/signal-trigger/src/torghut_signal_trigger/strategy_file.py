"""The strategy book signal-trigger runs: ``STRATEGIES_PATH`` or the library's reference book."""

from __future__ import annotations

from pathlib import Path

from torghut_runtime import ConfigError
from torghut_strategies.book import StrategyBook, StrategyBookError
from torghut_strategies.book_file import read_strategy_book, reference_book


def load_strategy_book(path: Path | None, *, setting: str = "STRATEGIES_PATH") -> StrategyBook:
    """The book at ``path``, or the reference book; :class:`ConfigError` names the setting and the key."""
    try:
        return reference_book() if path is None else read_strategy_book(path, origin=f"{setting}={path}")
    except StrategyBookError as exc:
        raise ConfigError(str(exc)) from None

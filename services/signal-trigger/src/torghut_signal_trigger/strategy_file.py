"""The strategy book signal-trigger runs: ``STRATEGIES_PATH`` or the packaged default."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from torghut_runtime import ConfigError
from torghut_strategies.book import StrategyBook, StrategyBookError
from torghut_strategies.book_file import parse_strategy_book_text, read_strategy_book

DEFAULT_BOOK = "strategies.default.yaml"


def load_strategy_book(path: Path | None, *, setting: str = "STRATEGIES_PATH") -> StrategyBook:
    """The book at ``path``, or the packaged default; :class:`ConfigError` names the setting and the key."""
    try:
        if path is None:
            text = resources.files(__package__).joinpath(DEFAULT_BOOK).read_text()
            return parse_strategy_book_text(text, origin=f"default strategy book ({DEFAULT_BOOK})")
        return read_strategy_book(path, origin=f"{setting}={path}")
    except StrategyBookError as exc:
        raise ConfigError(str(exc)) from None

"""Reading a strategy book from YAML text or a file: the only I/O around :mod:`.book`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from .book import StrategyBook, StrategyBookError, parse_strategy_book


def parse_strategy_book_text(text: str, *, origin: str) -> StrategyBook:
    """A book from YAML text; :class:`StrategyBookError` names ``origin`` and the bad key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StrategyBookError(f"{origin}: not valid YAML: {exc}") from None
    return parse_strategy_book(raw, origin=origin)


def read_strategy_book(path: Path, *, origin: str | None = None) -> StrategyBook:
    """The book in ``path``; ``origin`` (default: the path) is how errors name where it came from."""
    origin = origin or str(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StrategyBookError(f"{origin}: cannot read the strategy book: {reason}") from None
    return parse_strategy_book_text(text, origin=origin)


REFERENCE_BOOK = "reference_book.yaml"


def reference_book_text() -> str:
    """The reference book's YAML: signal-trigger's default and the research lane's baseline."""
    return resources.files(__package__).joinpath(REFERENCE_BOOK).read_text()


def reference_book() -> StrategyBook:
    return parse_strategy_book_text(reference_book_text(), origin=f"reference strategy book ({REFERENCE_BOOK})")

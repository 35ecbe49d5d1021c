"""Loading the strategy book from YAML (the only I/O around :mod:`.domain.config`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from torghut_runtime import ConfigError

from .domain.config import StrategyBook, parse_strategy_book

DEFAULT_BOOK = "strategies.default.yaml"


def load_strategy_book(path: Path | None, *, setting: str = "STRATEGIES_PATH") -> StrategyBook:
    """The book at ``path``, or the packaged default; :class:`ConfigError` names the setting and the key."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_BOOK).read_text()
        origin = f"default strategy book ({DEFAULT_BOOK})"
    else:
        origin = f"{setting}={path}"
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{origin}: cannot read the strategy book: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
    return parse_strategy_book(raw, origin=origin)

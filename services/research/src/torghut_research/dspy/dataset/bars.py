"""The dump's bars per symbol (read with the lane's reader) and each bar's Janus event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...janus.events import DIRECTIONS, compute_events
from ...janus.settings import JanusSettings
from ...sources import load_signals
from .parameters import DatasetConfig


class _Bars:
    """Per symbol, the dump's bars in the order signal-trigger receives them: seq -> row, and prices; and every
    bar's Janus event (CAR over the label's horizon against the cross-sectional market mean)."""

    def __init__(self, dump: Path, config: DatasetConfig) -> None:
        signals = load_signals(str(dump))
        columns = signals.columns
        self.rows: dict[str, dict[int, int]] = {}
        self.prices: dict[str, np.ndarray] = {}
        self.spreads: dict[str, np.ndarray] = {}
        self.signal_rows: dict[str, np.ndarray] = {}
        symbols = columns.symbol
        for symbol in sorted(set(symbols.tolist())):
            where = np.flatnonzero(symbols == symbol)
            self.rows[symbol] = {int(seq): i for i, seq in enumerate(columns.seq[where].tolist())}
            self.prices[symbol] = signals.price[where]
            self.spreads[symbol] = signals.spread_bps[where]
            self.signal_rows[symbol] = where
        self.events = compute_events(signals, JanusSettings(event_window_bars=config.horizon_bars,
                                                            strong_threshold=config.strong_threshold))

    def event(self, symbol: str, row: int) -> dict[str, Any]:
        """The Janus event of ``symbol``'s bar ``row``: what the HGRM metric scores a prediction against."""
        at = int(self.signal_rows[symbol][row])
        return {"car": round(float(self.events.car[at]), 8), "direction": DIRECTIONS[int(self.events.direction[at])],
                "eventType": self.events.event_type(at), "strong": bool(self.events.strong[at])}

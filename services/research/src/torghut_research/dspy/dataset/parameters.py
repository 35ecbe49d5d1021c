"""The builder's parameters: the label rule's horizon and costs, the split, and the request defaults."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from torghut_contracts.enums import Adapter

from ...errors import InputError


@dataclass(frozen=True)
class DatasetConfig:
    horizon_bars: int = 5
    strong_threshold: float = 0.0025
    slippage_bps: float = 1.0
    default_spread_bps: float = 5.0
    eval_fraction: float = 0.3
    default_equity: str = "100000"
    max_notional_per_trade: str = "7000"
    max_position_pct_equity: str = "0.08"
    kill_switch_enabled: bool = False
    primary_adapter: str = Adapter.ALPACA.value
    trading_mode: str = "paper"

    def __post_init__(self) -> None:
        if self.horizon_bars < 1:
            raise InputError("horizon_bars must be at least 1")
        if not (math.isfinite(self.strong_threshold) and self.strong_threshold >= 0):
            raise InputError("strong_threshold must be a number at or above 0")
        if not 0 < self.eval_fraction < 1:
            raise InputError("eval_fraction must be between 0 and 1 (exclusive)")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

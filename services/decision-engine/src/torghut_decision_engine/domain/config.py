"""What the rules need to know from configuration, as a plain value (the core never reads settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal


@dataclass(frozen=True)
class RuleConfig:
    quality_threshold: Decimal = Decimal("0.5")
    max_trigger_age_s: Decimal = Decimal("300")
    max_portfolio_age_s: Decimal = Decimal("300")
    max_clock_skew_s: Decimal = Decimal("5")
    max_spread_bps: Decimal = Decimal("50")
    lean_policy: Literal["allowlist", "all"] = "allowlist"
    lean_symbols: frozenset[str] = field(default_factory=frozenset)
    llm_min_confidence: Decimal = Decimal("0.5")

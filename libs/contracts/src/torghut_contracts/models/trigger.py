"""``torghut.triggers.v1``: a strategy fired on a symbol."""

from __future__ import annotations

from pydantic import Field

from torghut_contracts.enums import Side
from torghut_contracts.types import Identifier, Label, Num, Price, SequenceNumber, Symbol, UtcDatetime

from .base import Contract


class StrategyTrigger(Contract):
    """A candidate trade for the decision engine.

    ``request_id`` is derived from (strategy, symbol, signal seq, event_ts, direction), so replaying
    the same signals yields the same id and every downstream stage can ignore the repeat.
    """

    request_id: Identifier
    strategy_id: Identifier
    strategy_version: Label = Field(default="1", max_length=32)
    symbol: Symbol
    direction: Side
    trigger_type: Identifier
    event_ts: UtcDatetime
    signal_seq: SequenceNumber
    source: Label = Field(default="torghut-ta", max_length=64)
    price: Price
    features: dict[str, Num] = Field(default_factory=dict, description="The feature snapshot that fired it.")
    triggered_at: UtcDatetime

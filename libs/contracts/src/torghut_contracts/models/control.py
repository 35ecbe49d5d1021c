"""``torghut.control.v1``: the operator's word, compacted so the latest command per scope survives."""

from __future__ import annotations

from pydantic import Field

from torghut_contracts.enums import TradingState
from torghut_contracts.types import Identifier, Label, Text, UtcDatetime

from .base import Contract

GLOBAL_SCOPE = "global"


class ControlCommand(Contract):
    """The desired trading posture for a scope: ``global`` or one account id.

    Each command is a full state, not a delta, so a compacted topic that keeps only the latest
    command per scope is enough to rebuild the posture after a restart.
    """

    command_id: Identifier
    scope: Label = Field(min_length=1, max_length=64)
    kill_switch: bool
    trading_state: TradingState
    reason: Text = Field(default="", max_length=500)
    issued_by: Label = Field(default="operator", max_length=200)
    issued_at: UtcDatetime

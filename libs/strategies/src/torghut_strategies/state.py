"""Per-symbol strategy state: what must survive a restart for the next decision to be right.

The state is keyed by (symbol, stream), where the stream is the signal's bar window (``PT1S``,
``PT1M`` or empty): the TA source numbers signals per symbol *per stream*, and a MACD relation from
1-minute bars must not be compared with one from 1-second bars.

Duplicates and out-of-order signals are recognised with a sliding anti-replay window over ``seq``
(the scheme IPsec uses, RFC 4303 §3.4.3): the highest seq seen plus a bitmap of the ``SEQ_WINDOW``
seqs below it. That tells a redelivered signal (bit set) from a late one that was never seen (bit
clear) exactly, within the window, in constant space.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

SEQ_WINDOW = 128
_MASK = (1 << SEQ_WINDOW) - 1


class SeqVerdict(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    LATE = "late"
    """Lower than the highest seq seen, inside the window, and never seen before."""
    TOO_OLD = "too_old"
    """Below the window: whether it was seen cannot be told, so it is not acted on."""


@dataclass(frozen=True)
class SeqWindow:
    last: int | None = None
    seen: int = 0
    """Bit ``i`` set means seq ``last - i`` was seen (bit 0 is ``last`` itself)."""

    def classify(self, seq: int) -> SeqVerdict:
        if self.last is None or seq > self.last:
            return SeqVerdict.NEW
        offset = self.last - seq
        if offset >= SEQ_WINDOW:
            return SeqVerdict.TOO_OLD
        return SeqVerdict.DUPLICATE if self.seen >> offset & 1 else SeqVerdict.LATE

    def record(self, seq: int) -> SeqWindow:
        if self.last is None:
            return SeqWindow(last=seq, seen=1)
        if seq > self.last:
            shift = seq - self.last
            seen = ((self.seen << shift) | 1) & _MASK if shift < SEQ_WINDOW else 1
            return SeqWindow(last=seq, seen=seen)
        offset = self.last - seq
        if offset >= SEQ_WINDOW:
            return self
        return SeqWindow(last=self.last, seen=self.seen | (1 << offset))


@dataclass(frozen=True)
class StrategyMemory:
    """One strategy's memory for one symbol: its own indicator memory and its last triggers."""

    values: Mapping[str, str] = field(default_factory=dict)
    last_fired: Mapping[str, datetime] = field(default_factory=dict)
    """Direction (``buy``/``sell``) -> event time of the last trigger, for the cooldown."""


@dataclass(frozen=True)
class SymbolState:
    symbol: str
    stream: str = ""
    seq: SeqWindow = field(default_factory=SeqWindow)
    last_event_ts: datetime | None = None
    strategies: Mapping[str, StrategyMemory] = field(default_factory=dict)

    def memory(self, strategy_id: str) -> StrategyMemory:
        return self.strategies.get(strategy_id, StrategyMemory())

    def with_memory(self, updates: Mapping[str, StrategyMemory]) -> SymbolState:
        return replace(self, strategies={**self.strategies, **updates})

    # -- persistence format (JSON), kept here so the store stays a dumb adapter ----------------
    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "last_seq": self.seq.last,
            "seen": format(self.seq.seen, "x"),
            "last_event_ts": self.last_event_ts.isoformat() if self.last_event_ts else None,
            "strategies": {
                sid: {"values": dict(m.values), "last_fired": {d: ts.isoformat() for d, ts in m.last_fired.items()}}
                for sid, m in sorted(self.strategies.items())
            },
        }

    @classmethod
    def from_json(cls, symbol: str, stream: str, raw: Mapping[str, Any]) -> SymbolState:
        last_event_ts = raw.get("last_event_ts")
        return cls(
            symbol=symbol,
            stream=stream,
            seq=SeqWindow(last=raw.get("last_seq"), seen=int(raw.get("seen") or "0", 16)),
            last_event_ts=datetime.fromisoformat(last_event_ts) if last_event_ts else None,
            strategies={
                sid: StrategyMemory(
                    values=dict(m.get("values", {})),
                    last_fired={d: datetime.fromisoformat(ts) for d, ts in m.get("last_fired", {}).items()},
                )
                for sid, m in dict(raw.get("strategies", {})).items()
            },
        )

"""``evaluate``: one signal against one symbol's state -> new state, triggers and gate reasons.

Order of judgement, each step failing closed:

1. source: only configured TA sources (upstream gotcha: a Kafka consumer needs its own filter);
2. sequence: a duplicate changes nothing; a late or too-old seq is refused without touching the
   indicator memory (it would corrupt cross detection); event time going backwards is out of order;
   so is a future event time, which must not drag the symbol's clock forward;
3. content gates (missing fields, stale, quote): the signal still advances the strategies' memory,
   so a cross that happened while data was bad is consumed, not fired later;
4. per strategy and candidate: trading session (event time), filters, cooldown.

Time comes in as ``reference_time`` (wall clock live, the stream watermark in replay), so the
function is deterministic and a replay decides what live decided.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from torghut_contracts.enums import Side
from torghut_contracts.models import StrategyTrigger, TaSignal

from .book import Strategy, StrategyBook
from .gates import GateConfig, GateReason, content_gates, missing_fields, spread_bps
from .session import TradingSession
from .state import SeqVerdict, StrategyMemory, SymbolState
from .steps import Candidate, filter_reason, needed_fields, step

FEATURE_FIELDS = ("price", "macd", "macd_signal", "macd_hist", "rsi14", "ema12", "ema26", "vwap", "bid", "ask",
                  "bid_size", "ask_size", "volume")


@dataclass(frozen=True)
class EngineConfig:
    strategies: StrategyBook
    gates: GateConfig = field(default_factory=GateConfig)
    session: TradingSession = field(default_factory=TradingSession)


@dataclass(frozen=True)
class Suppressed:
    """A strategy wanted to fire but was held back (session, filter, cooldown)."""

    strategy_id: str
    direction: Side
    reason: str


@dataclass(frozen=True)
class Evaluation:
    state: SymbolState
    triggers: tuple[StrategyTrigger, ...] = ()
    gate_reasons: tuple[GateReason, ...] = ()
    suppressed: tuple[Suppressed, ...] = ()

    @property
    def gated(self) -> bool:
        return bool(self.gate_reasons)


def stream_of(signal: TaSignal) -> str:
    return signal.window or ""


def request_id_for(strategy_id: str, symbol: str, seq: int, event_ts: datetime, direction: Side) -> str:
    """sha256 of the identifying fields: replaying the same signals yields the same ids."""
    stamp = event_ts.astimezone(UTC).isoformat(timespec="microseconds")
    return hashlib.sha256(f"{strategy_id}|{symbol}|{seq}|{stamp}|{direction.value}".encode()).hexdigest()


def feature_snapshot(signal: TaSignal) -> dict[str, Decimal]:
    features = {name: value for name in FEATURE_FIELDS if (value := getattr(signal, name)) is not None}
    spread = spread_bps(signal)
    if spread is not None:
        features["spread_bps"] = spread.quantize(Decimal("0.0001"))
    return features


def evaluate(state: SymbolState, signal: TaSignal, config: EngineConfig, *,
             reference_time: datetime) -> Evaluation:
    gates = config.gates
    if gates.allowed_sources and signal.source not in gates.allowed_sources:
        return Evaluation(state, gate_reasons=(GateReason.SOURCE_NOT_ALLOWED,))

    verdict = state.seq.classify(signal.seq)
    if verdict is SeqVerdict.DUPLICATE:
        return Evaluation(state, gate_reasons=(GateReason.DUPLICATE,))
    if verdict is not SeqVerdict.NEW:
        return Evaluation(replace(state, seq=state.seq.record(signal.seq)), gate_reasons=(GateReason.OUT_OF_ORDER,))
    recorded = replace(state, seq=state.seq.record(signal.seq))
    if state.last_event_ts is not None and signal.event_ts < state.last_event_ts:
        return Evaluation(recorded, gate_reasons=(GateReason.OUT_OF_ORDER,))
    reasons = content_gates(signal, gates, reference_time)
    if GateReason.FROM_THE_FUTURE in reasons:
        return Evaluation(recorded, gate_reasons=reasons)  # must not drag the symbol's clock forward
    recorded = replace(recorded, last_event_ts=signal.event_ts)
    session_open = _Lazy(lambda: config.session.is_open(signal.event_ts))
    updates: dict[str, StrategyMemory] = {}
    triggers: list[StrategyTrigger] = []
    suppressed: list[Suppressed] = []
    for strategy in config.strategies.for_symbol(signal.symbol, signal.window):
        memory = state.memory(strategy.id)
        if missing_fields(signal, needed_fields(strategy)):
            updates[strategy.id] = replace(memory, values={})  # a gap: the next cross must be seen whole
            continue
        values, candidates = step(strategy, memory.values, signal)
        last_fired = dict(memory.last_fired)
        if not reasons:
            judge_candidates(strategy, candidates, signal, last_fired, session_open, reference_time,
                             triggers, suppressed)
        updates[strategy.id] = StrategyMemory(values=dict(values), last_fired=last_fired)
    return Evaluation(recorded.with_memory(updates), tuple(triggers), reasons, tuple(suppressed))


def judge_candidates(strategy: Strategy, candidates: Iterable[Candidate], signal: TaSignal,
                     last_fired: dict[str, datetime], session_open: Callable[[], bool], reference_time: datetime,
                     triggers: list[StrategyTrigger], suppressed: list[Suppressed]) -> None:
    """Turn a strategy's candidates on a signal that passed the gates into triggers or suppressions.

    ``last_fired`` (direction -> event time) is updated in place for each trigger, so candidates
    judged one after another share the cooldown. The research lane's vectorised evaluator calls
    this for the few signals where a candidate arises, so both paths judge with the same code.
    """
    for candidate in candidates:
        held_back = _held_back(strategy, candidate.direction, signal, last_fired, session_open)
        if held_back is not None:
            suppressed.append(Suppressed(strategy.id, candidate.direction, held_back))
            continue
        last_fired[candidate.direction.value] = signal.event_ts
        triggers.append(_trigger(strategy.id, strategy.version, signal, candidate.direction,
                                 candidate.trigger_type, reference_time))


class _Lazy:
    """A boolean computed on first use (most signals never need the session calendar)."""

    def __init__(self, compute: Callable[[], bool]) -> None:
        self._compute = compute
        self._value: bool | None = None

    def __call__(self) -> bool:
        if self._value is None:
            self._value = self._compute()
        return self._value


def _held_back(strategy: Strategy, direction: Side, signal: TaSignal,
               last_fired: dict[str, datetime], session_open: Callable[[], bool]) -> str | None:
    """Why a strategy's candidate does not become a trigger: session, filters, cooldown (first reason)."""
    if signal.price is None:
        return "missing_price"
    if not strategy.allow_outside_session and not session_open():
        return "outside_session"
    for item in strategy.filters:
        if (reason := filter_reason(item, signal, direction)) is not None:
            return reason
    previous = last_fired.get(direction.value)
    if previous is not None and signal.event_ts - previous < timedelta(seconds=strategy.cooldown_s):
        return "cooldown"
    return None


def _trigger(strategy_id: str, version: str, signal: TaSignal, direction: Side, trigger_type: str,
             reference_time: datetime) -> StrategyTrigger:
    assert signal.price is not None  # checked by the caller
    return StrategyTrigger(
        request_id=request_id_for(strategy_id, signal.symbol, signal.seq, signal.event_ts, direction),
        strategy_id=strategy_id,
        strategy_version=version,
        symbol=signal.symbol,
        direction=direction,
        trigger_type=trigger_type,
        event_ts=signal.event_ts,
        signal_seq=signal.seq,
        price=signal.price,
        features=feature_snapshot(signal),
        triggered_at=reference_time,
    )

"""What a transport reports back, and how that becomes the published ``Decision``.

Every transport ends in exactly one :class:`EngineOutcome`: an :class:`EngineAnswer` (a validated
intent) or an :class:`EngineFailure` (reason codes). A failure always becomes a ``hold`` decision
that is still published, so the audit trail has one decision per trigger whatever went wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from torghut_contracts.decision_engine import DecisionFinal
from torghut_contracts.enums import Action
from torghut_contracts.models import (
    Decision,
    DecisionIntent,
    EngineProvenance,
    ShadowVerdict,
    SizeRecommendation,
    StrategyTrigger,
)

from .ids import decision_id

FAIL_CLOSED_MODE = "fail_closed"


@dataclass(frozen=True)
class Provenance:
    """Where an outcome came from; becomes ``EngineProvenance`` (bounded to the contract's lengths)."""

    transport: str
    mode: str = FAIL_CLOSED_MODE
    engine_version: str = "unknown"
    program: str | None = None
    artifact_hash: str | None = None
    run_id: str | None = None
    latency_ms: int | None = None

    def contract(self) -> EngineProvenance:
        return EngineProvenance(
            transport=self.transport[:64], engine_version=self.engine_version[:64] or "unknown",
            mode=self.mode[:64] or FAIL_CLOSED_MODE, program=self.program[:200] if self.program else None,
            artifact_hash=self.artifact_hash, run_id=self.run_id[:200] if self.run_id else None,
            latency_ms=Decimal(self.latency_ms) if self.latency_ms is not None else None,
        )


@dataclass(frozen=True)
class EngineAnswer:
    intent: DecisionIntent
    confidence: Decimal
    provenance: Provenance
    uncertainty_notes: tuple[str, ...] = ()
    size_recommendation: SizeRecommendation | None = None
    risk_flags: tuple[str, ...] = ()
    reason_codes: tuple[str, ...] = ()
    artifact_refs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineFailure:
    reason_codes: tuple[str, ...]
    detail: str
    provenance: Provenance


EngineOutcome = EngineAnswer | EngineFailure


def answer_from_final(final: DecisionFinal, *, transport: str, run_id: str | None,
                      latency_ms: int | None) -> EngineAnswer:
    return EngineAnswer(
        intent=final.intent, confidence=final.confidence,
        uncertainty_notes=tuple(final.uncertainty_notes), size_recommendation=final.size_recommendation,
        risk_flags=tuple(final.risk_flags), reason_codes=tuple(final.reason_codes),
        artifact_refs=dict(final.artifact_refs),
        provenance=Provenance(transport=transport, mode=final.mode, engine_version=final.engine_version,
                              program=final.program, artifact_hash=final.artifact_hash,
                              run_id=run_id or final.run_id, latency_ms=latency_ms),
    )


HOLD = DecisionIntent(action=Action.HOLD, qty=Decimal(0))


def decision_from_outcome(trigger: StrategyTrigger, *, account: str, outcome: EngineOutcome, decided_at: datetime,
                          shadow: ShadowVerdict | None = None) -> Decision:
    """The published decision: the engine's intent, or a hold carrying the failure's reason codes."""
    common = dict(
        decision_id=decision_id(account, trigger.request_id), request_id=trigger.request_id, account=account,
        symbol=trigger.symbol, strategy_id=trigger.strategy_id, reference_price=trigger.price,
        signal_event_ts=trigger.event_ts, decided_at=decided_at, provenance=outcome.provenance.contract(),
        shadow=shadow,
    )
    if isinstance(outcome, EngineFailure):
        return Decision(intent=HOLD, confidence=Decimal(0), reason_codes=list(outcome.reason_codes),
                        uncertainty_notes=[outcome.detail[:2000]] if outcome.detail else [], **common)
    return Decision(
        intent=outcome.intent, confidence=outcome.confidence, uncertainty_notes=list(outcome.uncertainty_notes),
        size_recommendation=outcome.size_recommendation, risk_flags=list(outcome.risk_flags),
        reason_codes=list(outcome.reason_codes), artifact_refs=dict(outcome.artifact_refs), **common,
    )


def hold_without_engine(trigger: StrategyTrigger, *, account: str, transport: str, reason: str, detail: str,
                        decided_at: datetime) -> Decision:
    """A hold decided before any engine was asked (e.g. no usable portfolio)."""
    failure = EngineFailure(reason_codes=(reason,), detail=detail, provenance=Provenance(transport=transport))
    return decision_from_outcome(trigger, account=account, outcome=failure, decided_at=decided_at)


def shadow_verdict(outcome: EngineOutcome, *, artifact_hash: str | None) -> ShadowVerdict:
    """A shadow program's opinion for the record; a failed shadow run is recorded as a hold with its reasons."""
    if isinstance(outcome, EngineFailure):
        return ShadowVerdict(action=Action.HOLD, qty=Decimal(0), reason_codes=list(outcome.reason_codes),
                             artifact_hash=artifact_hash)
    return ShadowVerdict(action=outcome.intent.action, qty=outcome.intent.qty, confidence=outcome.confidence,
                         reason_codes=list(outcome.reason_codes), artifact_hash=artifact_hash)


def failure(reason: str | Sequence[str], detail: str, provenance: Provenance) -> EngineFailure:
    codes = (reason,) if isinstance(reason, str) else tuple(reason)
    return EngineFailure(reason_codes=codes, detail=detail, provenance=provenance)

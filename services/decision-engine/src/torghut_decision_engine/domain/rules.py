"""The decision rules: skill outputs in, one bounded proposal out. Fail closed at every gate.

Every gate that fails adds its reason code (all of them, not just the first), and any reason makes
the proposal ``hold`` with qty 0. A language model's opinion can only turn a trade into a hold,
never a hold into a trade, and never change the size the deterministic sizing allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from torghut_contracts.decision_engine import DecisionRequest, SkillOutput
from torghut_contracts.enums import Action, Adapter, Side

from .config import RuleConfig
from .features import feature

CONFIDENCE_STEP = Decimal("0.01")


@dataclass(frozen=True)
class Proposal:
    action: Action
    qty: Decimal
    reason_codes: tuple[str, ...]
    risk_flags: tuple[str, ...]
    confidence: Decimal
    uncertainty_notes: tuple[str, ...]
    max_qty: Decimal
    max_notional: Decimal
    adapter: Adapter
    adapter_reason: str
    max_slippage_bps: Decimal
    summary: str


@dataclass(frozen=True)
class LlmOpinion:
    """A language model's review, already validated (action, confidence in [0, 1], bounded text)."""

    action: Action
    confidence: Decimal
    analysis: str
    risk_flags: tuple[str, ...] = ()
    uncertainty_notes: tuple[str, ...] = ()


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _dec(value: object, default: Decimal = Decimal(0)) -> Decimal:
    return Decimal(str(value)) if value is not None else default


def insufficient(output: SkillOutput, threshold: Decimal) -> bool:
    return output.status != "ok" or output.source_quality < threshold


def gate_reasons(request: DecisionRequest, skills: Mapping[str, SkillOutput], required: frozenset[str],
                 config: RuleConfig) -> list[str]:
    """Every failing gate, in a fixed order."""
    reasons: list[str] = []
    market, technicals = skills["market-context"], skills["technicals-regime"]
    sizing = skills["risk-exposure-sizing"]
    if request.risk_policy.kill_switch_enabled:
        reasons.append("kill_switch_enabled")
    if request.trigger.direction is None:
        reasons.append("missing_direction")
    for flag in ("missing_price", "stale_trigger", "trigger_in_future"):
        if flag in market.risk_flags:
            reasons.append(flag)
    for domain in sorted(required):
        if insufficient(skills[domain], config.quality_threshold):
            reasons.append(f"required_domain_insufficient:{domain}")
    spread = feature(request.trigger, "spread_bps")
    if spread is not None and spread > config.max_spread_bps:
        reasons.append("spread_too_wide")
    if "technicals_disagree" in technicals.risk_flags:
        reasons.append("technicals_disagree")
    if _dec(sizing.data.get("max_qty")) <= 0:
        reasons.append("size_zero")
        reasons.extend(str(reason) for reason in sizing.data.get("size_reasons", []))  # type: ignore[attr-defined]
    if sizing.status == "stale":
        reasons.append("stale_portfolio")
    return list(_unique(reasons))


def evidence_confidence(skills: Mapping[str, SkillOutput], required: frozenset[str]) -> Decimal:
    """A heuristic evidence score, not a probability: 0.4 + 0.4 x mean quality of the required domains
    + 0.2 when the technicals agree with the trigger's direction."""
    qualities = [skills[domain].source_quality for domain in sorted(required)] or [Decimal(0)]
    mean_quality = sum(qualities, Decimal(0)) / len(qualities)
    agreement = Decimal(1) if skills["technicals-regime"].data.get("agrees_with_trigger") is True else Decimal(0)
    score = Decimal("0.4") + Decimal("0.4") * mean_quality + Decimal("0.2") * agreement
    return min(Decimal(1), max(Decimal(0), score)).quantize(CONFIDENCE_STEP)


def uncertainty_notes(skills: Mapping[str, SkillOutput], required: frozenset[str]) -> list[str]:
    notes = []
    for output in skills.values():
        if output.status != "ok":
            kind = "required" if output.skill in required else "optional"
            detail = output.data.get("reason") or ", ".join(output.risk_flags) or "no detail"
            notes.append(f"{output.skill} ({kind}) is {output.status}: {detail}")
    return notes


def decide(request: DecisionRequest, skills: Mapping[str, SkillOutput], required: frozenset[str],
           config: RuleConfig) -> Proposal:
    """The deterministic proposal: the trigger's direction at the sized qty, or hold with every reason."""
    reasons = gate_reasons(request, skills, required, config)
    sizing, routing = skills["risk-exposure-sizing"], skills["execution-routing"]
    max_qty = _dec(sizing.data.get("max_qty"))
    direction: Side | None = request.trigger.direction
    if reasons or direction is None:
        action, qty = Action.HOLD, Decimal(0)
    else:
        action, qty = Action(direction.value), max_qty
    flags = _unique(flag for output in skills.values() for flag in output.risk_flags)
    technicals = skills["technicals-regime"].data
    summary = (f"{action.value} {qty} {request.symbol} for {request.strategy_id}: "
               + ("; ".join(reasons) if reasons else "all gates passed")
               + f". Technicals {technicals.get('regime', 'unknown')}, rsi14 {technicals.get('rsi14')}; "
               f"size bound {sizing.data.get('binding_constraint')} (max {max_qty}).")
    return Proposal(
        action=action, qty=qty, reason_codes=tuple(reasons), risk_flags=flags,
        confidence=evidence_confidence(skills, required),
        uncertainty_notes=tuple(uncertainty_notes(skills, required)), max_qty=max_qty,
        max_notional=_dec(sizing.data.get("max_notional")),
        adapter=Adapter(str(routing.data["adapter_hint"])), adapter_reason=str(routing.data["adapter_hint_reason"]),
        max_slippage_bps=_dec(routing.data.get("max_slippage_bps"), Decimal(25)), summary=summary)


def as_hold(proposal: Proposal, *reasons: str) -> Proposal:
    return replace(proposal, action=Action.HOLD, qty=Decimal(0),
                   reason_codes=_unique([*proposal.reason_codes, *reasons]))


def apply_llm_opinion(proposal: Proposal, opinion: LlmOpinion, config: RuleConfig) -> Proposal:
    """The model may veto (hold) but never trade against the rules, flip direction or resize."""
    llm_flags = tuple(f"llm:{flag}" for flag in opinion.risk_flags)
    merged = replace(proposal, confidence=opinion.confidence.quantize(CONFIDENCE_STEP), summary=opinion.analysis,
                     risk_flags=_unique([*proposal.risk_flags, *llm_flags]),
                     uncertainty_notes=_unique([*proposal.uncertainty_notes, *opinion.uncertainty_notes]))
    if proposal.action is Action.HOLD:
        return merged
    if opinion.action is Action.HOLD:
        return as_hold(merged, "llm_hold")
    if opinion.action is not proposal.action:
        return as_hold(merged, "llm_direction_conflict")
    if opinion.confidence < config.llm_min_confidence:
        return as_hold(merged, "llm_low_confidence")
    return merged


def fall_back(proposal: Proposal, reason: str, detail: str) -> Proposal:
    """An LM or parse failure: the deterministic analysis stands, the action is hold."""
    held = as_hold(proposal, reason)
    return replace(held, uncertainty_notes=_unique([*held.uncertainty_notes, f"language model failed: {detail}"]),
                   summary=f"{proposal.summary} Language model review failed ({reason}); holding.")

"""The versioned skill bundle (seed 002): six domains, each a structured :class:`SkillOutput`.

Every skill always reports, with freshness and source quality. A domain without data is reported
as ``status="missing"`` with a ``missing_<domain>`` risk flag, never left out, so a consumer can tell
"no news" from "news said nothing". Quality is a score in [0, 1] of how complete and fresh the
skill's inputs were; the rules compare it with the configured threshold for required domains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from torghut_contracts.decision_engine import DecisionRequest, SkillOutput
from torghut_contracts.enums import Side

from .config import RuleConfig
from .features import age_seconds, feature, reference_price
from .routing import choose_adapter, max_slippage_bps
from .sizing import size_position

SKILL_BUNDLE_VERSION = "torghut-skills-v1"
SKILL_VERSIONS: Mapping[str, str] = {
    "market-context": "1.0.0",
    "news-sentiment": "1.0.0",
    "fundamentals": "1.0.0",
    "technicals-regime": "1.0.0",
    "risk-exposure-sizing": "1.0.0",
    "execution-routing": "1.0.0",
}
SKILL_NAMES: tuple[str, ...] = tuple(SKILL_VERSIONS)

STALE_QUALITY = Decimal("0.2")
NEWS_MAX_AGE_S = Decimal(6 * 3600)
FUNDAMENTALS_MAX_AGE_S = Decimal(120 * 86400)
RSI_OVERBOUGHT = Decimal(70)
RSI_OVERSOLD = Decimal(30)


@dataclass(frozen=True)
class DomainEvidence:
    """What an external provider (news, fundamentals) returned; none is configured in the reference engine."""

    provider: str
    as_of: datetime
    quality: Decimal
    score: Decimal | None = None
    """Sentiment or valuation score in [-1, 1]; positive favours buying."""
    source_count: int = 0


@dataclass(frozen=True)
class SkillInputs:
    request: DecisionRequest
    now: datetime
    config: RuleConfig
    news: DomainEvidence | None = None
    fundamentals: DomainEvidence | None = None


def _output(skill: str, status: str, quality: Decimal, freshness: Decimal | None, data: dict[str, object],
            flags: list[str]) -> SkillOutput:
    return SkillOutput(skill=skill, version=SKILL_VERSIONS[skill], status=status,  # type: ignore[arg-type]
                       freshness_seconds=max(freshness, Decimal(0)) if freshness is not None else None,
                       source_quality=max(Decimal(0), min(quality, Decimal(1))), data=data, risk_flags=flags)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _trigger_timing(inputs: SkillInputs) -> tuple[Decimal, str]:
    """The trigger's age and its timing status: ``ok``, ``stale`` or ``error`` (from the future)."""
    age = age_seconds(inputs.request.trigger.event_ts, inputs.now)
    if age < -inputs.config.max_clock_skew_s:
        return age, "error"
    if age > inputs.config.max_trigger_age_s:
        return age, "stale"
    return age, "ok"


def market_context(inputs: SkillInputs) -> SkillOutput:
    trigger = inputs.request.trigger
    price = reference_price(trigger)
    spread = feature(trigger, "spread_bps")
    age, timing = _trigger_timing(inputs)
    flags: list[str] = []
    data: dict[str, object] = {"symbol": inputs.request.symbol, "price": _s(price), "spread_bps": _s(spread),
                               "trigger_type": trigger.type, "trigger_source": trigger.source,
                               "event_ts": trigger.event_ts.isoformat(), "age_seconds": str(age),
                               "trading_mode": inputs.request.execution_context.mode}
    quality = Decimal(1)
    if spread is None:
        flags.append("missing_spread")
        quality -= Decimal("0.3")
    elif spread > inputs.config.max_spread_bps:
        flags.append("wide_spread")
    if price is None:
        flags.append("missing_price")
        return _output("market-context", "missing", Decimal(0), age, data, flags)
    if timing == "error":
        flags.append("trigger_in_future")
        return _output("market-context", "error", Decimal(0), age, data, flags)
    if timing == "stale":
        flags.append("stale_trigger")
        return _output("market-context", "stale", min(quality, STALE_QUALITY), age, data, flags)
    return _output("market-context", "ok", quality, age, data, flags)


def _evidence_skill(skill: str, evidence: DomainEvidence | None, inputs: SkillInputs, max_age: Decimal,
                    flag_stem: str) -> SkillOutput:
    if evidence is None:
        return _output(skill, "missing", Decimal(0), None,
                       {"provider": None, "reason": f"no {flag_stem} provider configured"}, [f"missing_{flag_stem}"])
    age = age_seconds(evidence.as_of, inputs.now)
    data: dict[str, object] = {"provider": evidence.provider, "score": _s(evidence.score),
                               "source_count": evidence.source_count, "as_of": evidence.as_of.isoformat()}
    if age > max_age:
        return _output(skill, "stale", min(evidence.quality, STALE_QUALITY), age, data, [f"stale_{flag_stem}"])
    return _output(skill, "ok", evidence.quality, age, data, [])


def news_sentiment(inputs: SkillInputs) -> SkillOutput:
    return _evidence_skill("news-sentiment", inputs.news, inputs, NEWS_MAX_AGE_S, "news")


def fundamentals(inputs: SkillInputs) -> SkillOutput:
    return _evidence_skill("fundamentals", inputs.fundamentals, inputs, FUNDAMENTALS_MAX_AGE_S, "fundamentals")


def momentum_bias(histogram: Decimal) -> Side | None:
    if histogram > 0:
        return Side.BUY
    if histogram < 0:
        return Side.SELL
    return None


def technicals_regime(inputs: SkillInputs) -> SkillOutput:
    trigger = inputs.request.trigger
    macd, signal, rsi = feature(trigger, "macd"), feature(trigger, "macd_signal"), feature(trigger, "rsi14")
    age, timing = _trigger_timing(inputs)
    data: dict[str, object] = {"macd": _s(macd), "macd_signal": _s(signal), "rsi14": _s(rsi)}
    if macd is None or signal is None:
        missing = [name for name, value in (("macd", macd), ("macd_signal", signal)) if value is None]
        return _output("technicals-regime", "missing", Decimal(0), age, data,
                       ["missing_technicals"] + [f"missing_{name}" for name in missing])
    histogram = macd - signal
    bias = momentum_bias(histogram)
    direction = trigger.direction
    data.update({"macd_histogram": str(histogram),
                 "regime": {Side.BUY: "trend_up", Side.SELL: "trend_down", None: "flat"}[bias],
                 "momentum_bias": bias.value if bias else "neutral",
                 "agrees_with_trigger": direction is not None and bias is direction})
    flags: list[str] = []
    quality = Decimal(1)
    if rsi is None:
        flags.append("missing_rsi14")
        quality = Decimal("0.7")
        data["rsi_zone"] = None
    else:
        data["rsi_zone"] = "overbought" if rsi >= RSI_OVERBOUGHT else "oversold" if rsi <= RSI_OVERSOLD else "neutral"
        if direction is Side.BUY and rsi >= RSI_OVERBOUGHT:
            flags.append("rsi_overbought")
        if direction is Side.SELL and rsi <= RSI_OVERSOLD:
            flags.append("rsi_oversold")
    if direction is not None and bias is not None and bias is not direction:
        flags.append("technicals_disagree")
    if timing == "error":
        return _output("technicals-regime", "error", Decimal(0), age, data, [*flags, "trigger_in_future"])
    if timing == "stale":
        return _output("technicals-regime", "stale", min(quality, STALE_QUALITY), age, data,
                       [*flags, "stale_technicals"])
    return _output("technicals-regime", "ok", quality, age, data, flags)


def risk_exposure_sizing(inputs: SkillInputs) -> SkillOutput:
    request = inputs.request
    portfolio, policy = request.portfolio, request.risk_policy
    price = reference_price(request.trigger)
    sizing = size_position(request.symbol, request.trigger.direction, price, portfolio, policy)
    data: dict[str, object] = {
        "direction": request.trigger.direction.value if request.trigger.direction else None,
        "price": _s(price), "equity": str(portfolio.equity), "buying_power": str(portfolio.buying_power),
        "current_exposure": str(portfolio.current_exposure), "position_value": str(sizing.position_value),
        "position_headroom": _s(sizing.headroom), "max_notional_per_trade": str(policy.max_notional_per_trade),
        "max_position_pct_equity": str(policy.max_position_pct_equity),
        "kill_switch_enabled": policy.kill_switch_enabled, "max_qty": str(sizing.max_qty),
        "max_notional": str(sizing.max_notional), "binding_constraint": sizing.binding_constraint,
        "size_reasons": list(sizing.reasons)}
    flags = list(sizing.reasons)
    if policy.kill_switch_enabled:
        flags.append("kill_switch_enabled")
    freshness = age_seconds(portfolio.as_of, inputs.now) if portfolio.as_of is not None else None
    if "position_symbol_mismatch" in sizing.reasons:
        return _output("risk-exposure-sizing", "error", Decimal(0), freshness, data, flags)
    if portfolio.as_of is None:
        flags.append("portfolio_as_of_unknown")
        return _output("risk-exposure-sizing", "ok", Decimal("0.8"), None, data, flags)
    if freshness is not None and freshness > inputs.config.max_portfolio_age_s:
        flags.append("stale_portfolio")
        return _output("risk-exposure-sizing", "stale", STALE_QUALITY, freshness, data, flags)
    return _output("risk-exposure-sizing", "ok", Decimal(1), freshness, data, flags)


def execution_routing(inputs: SkillInputs) -> SkillOutput:
    request = inputs.request
    route = choose_adapter(request.symbol, request.execution_context, inputs.config)
    spread = feature(request.trigger, "spread_bps")
    data: dict[str, object] = {"adapter_hint": route.adapter.value, "adapter_hint_reason": route.reason,
                               "order_type": "market", "time_in_force": "day",
                               "max_slippage_bps": str(max_slippage_bps(spread, inputs.config)),
                               "primary_adapter": request.execution_context.primary_adapter.value,
                               "lean_enabled": request.execution_context.lean_enabled}
    quality = Decimal(1) if spread is not None else Decimal("0.8")
    return _output("execution-routing", "ok", quality, Decimal(0), data, list(route.risk_flags))


SKILLS = (market_context, news_sentiment, fundamentals, technicals_regime, risk_exposure_sizing, execution_routing)


def run_skill_bundle(inputs: SkillInputs) -> dict[str, SkillOutput]:
    """Every skill of the bundle, in bundle order, keyed by skill name."""
    outputs = [skill(inputs) for skill in SKILLS]
    return {output.skill: output for output in outputs}

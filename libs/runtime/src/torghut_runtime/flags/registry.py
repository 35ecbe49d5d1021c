"""The registry: every flag by typed name, the service setting(s) it stands for, its default and safe values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

Match = Literal["is_true", "one_of", "contains", "env_true"]


@dataclass(frozen=True)
class Target:
    """The service setting a flag stands for, and how the setting's value reads as on/off.

    ``setting`` is a (dotted) attribute of the service's settings class, or for ``env_true`` an
    environment variable the service reads itself. ``match``: ``is_true`` (a bool setting),
    ``one_of`` (on when the value is one of ``values``), ``contains`` (on when the list holds one of
    ``values``), ``env_true`` (on when the variable is ``true``).
    """

    service: str
    setting: str
    match: Match = "is_true"
    values: tuple[str, ...] = ()

    def read(self, source: Any) -> Any:
        if self.match == "env_true":
            return source.get(self.setting, "") if isinstance(source, Mapping) else getattr(source, self.setting, "")
        value = source
        for part in self.setting.split("."):
            value = value[part] if isinstance(value, Mapping) else getattr(value, part)
        return value

    def project(self, value: Any) -> bool:
        """The flag value a setting value means."""
        if self.match == "is_true":
            return value is True
        if self.match == "one_of":
            return str(getattr(value, "value", value)) in self.values
        if self.match == "contains":
            return any(str(getattr(v, "value", v)) in self.values for v in (value or ()))
        return str(value or "").strip().lower() == "true"


@dataclass(frozen=True)
class FlagSpec:
    key: str
    name: str
    description: str
    default: bool
    safe: bool
    loosens_safety: bool
    targets: tuple[Target, ...]


class Flag(Enum):
    """Every operator switch, by typed name. The value is its :class:`FlagSpec`."""

    LLM_DSPY_ACTIVE = FlagSpec(
        "torghut_llm_dspy_active", "DSPy program active",
        "The compiled DSPy program's decisions are used (LLM_DSPY_RUNTIME_MODE=active); off keeps it in shadow.",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("decision-client", "llm_dspy_runtime_mode", "one_of", ("active",)),))
    LEAN_ENABLED = FlagSpec(
        "torghut_trading_lean_enabled", "LEAN routing",
        "Orders route to the LEAN runner (EXECUTION_PRIMARY_ADAPTER=lean; the engine is told LEAN is enabled).",
        default=False, safe=False, loosens_safety=False,
        targets=(Target("decision-client", "execution_lean_enabled"),
                 Target("execution-router", "execution_primary_adapter", "one_of", ("lean",))))
    LEAN_FALLBACK_ENABLED = FlagSpec(
        "torghut_trading_lean_fallback_enabled", "LEAN fallback venue",
        "An order LEAN fails or may not take goes to EXECUTION_FALLBACK_ADAPTER; off: it is refused.",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("execution-router", "execution_fallback_adapter", "one_of", ("alpaca", "paper")),))
    LEAN_REQUIRE_HEALTHY = FlagSpec(
        "torghut_trading_lean_runner_require_healthy", "LEAN must be healthy",
        "Orders go to LEAN only while its health check passes (LEAN_REQUIRE_HEALTHY).",
        default=True, safe=True, loosens_safety=True,
        targets=(Target("execution-router", "lean_require_healthy"),))
    HONOUR_ADAPTER_HINT = FlagSpec(
        "torghut_trading_execution_honour_adapter_hint", "Honour adapter hints",
        "A decision's adapter_hint may pick a configured venue (EXECUTION_HONOUR_ADAPTER_HINT).",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("execution-router", "execution_honour_adapter_hint"),))
    ORDER_FEED_ENABLED = FlagSpec(
        "torghut_trading_order_feed_enabled", "Order-feed ingestion",
        "Alpaca trade updates are ingested from the websocket stream (ALPACA_STREAM_ENABLED).",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("execution-router", "alpaca_stream_enabled"),))
    ALLOW_SHORTS = FlagSpec(
        "torghut_trading_allow_shorts", "Shorts allowed",
        "A sell may take a position below zero (risk limit allow_shorts).",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("risk-firewall", "risk_limits.allow_shorts"),))
    ALLOW_EXTENDED_HOURS = FlagSpec(
        "torghut_trading_allow_extended_hours", "Extended hours allowed",
        "Orders flagged extended_hours pass the firewall (risk limit allow_extended_hours).",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("risk-firewall", "risk_limits.allow_extended_hours"),))
    ALLOW_FRACTIONAL = FlagSpec(
        "torghut_trading_allow_fractional", "Fractional quantities allowed",
        "Fractional quantities pass the firewall, longs only (risk limit allow_fractional).",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("risk-firewall", "risk_limits.allow_fractional"),))
    RISK_CLAMP_ENABLED = FlagSpec(
        "torghut_trading_risk_clamp_enabled", "Clamp instead of veto",
        "An order over a cap is clamped down to fit instead of vetoed (risk limit clamp_enabled).",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("risk-firewall", "risk_limits.clamp_enabled"),))
    MARKET_CONTEXT_REQUIRED = FlagSpec(
        "torghut_trading_market_context_required", "Market context required",
        "The engine holds unless the market-context skill domain is fresh "
        "(market-context in DECISION_ENGINE_REQUIRED_DOMAINS).",
        default=True, safe=True, loosens_safety=True,
        targets=(Target("decision-engine", "decision_engine_required_domains", "contains", ("market-context",)),))
    SIGNAL_REQUIRE_QUOTE = FlagSpec(
        "torghut_trading_signal_require_quote", "Quote required",
        "Signals without a two-sided quote are gated (SIGNAL_REQUIRE_QUOTE).",
        default=True, safe=True, loosens_safety=True,
        targets=(Target("signal-trigger", "signal_require_quote"),))
    WHITEPAPER_WORKFLOW_ENABLED = FlagSpec(
        "torghut_whitepaper_workflow_enabled", "Whitepaper workflow",
        "Research-paper issues are ingested and dispatched (WHITEPAPER_WORKFLOW_ENABLED).",
        default=False, safe=False, loosens_safety=False,
        targets=(Target("whitepaper-ingest", "whitepaper_workflow_enabled"),))
    WHITEPAPER_AUTO_DISPATCH = FlagSpec(
        "torghut_whitepaper_agentrun_auto_dispatch", "AgentRun auto dispatch",
        "The AgentRun is dispatched as soon as the PDF is stored (WHITEPAPER_AGENTRUN_AUTO_DISPATCH).",
        default=True, safe=True, loosens_safety=False,
        targets=(Target("whitepaper-ingest", "whitepaper_agentrun_auto_dispatch"),))
    ALLOW_LIVE_PROMOTION = FlagSpec(
        "torghut_trading_autonomy_allow_live_promotion", "Live promotion allowed",
        "The research lane may recommend live promotion (TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION); "
        "the gate policy and the approval token still apply.",
        default=False, safe=False, loosens_safety=True,
        targets=(Target("research", "TRADING_AUTONOMY_ALLOW_LIVE_PROMOTION", "env_true"),))

    @property
    def spec(self) -> FlagSpec:
        spec: FlagSpec = self.value
        return spec

    @property
    def key(self) -> str:
        return self.spec.key

    @classmethod
    def for_service(cls, service: str) -> list[Flag]:
        return [f for f in cls if any(t.service == service for t in f.spec.targets)]


def configured_values(service: str, settings: Any, flags: Iterable[Flag] | None = None) -> dict[Flag, bool]:
    """What each of ``service``'s flags is without a flag server: its setting's value, read from
    ``settings`` (the service's settings object; a mapping such as ``os.environ`` for ``env_true``)."""
    out: dict[Flag, bool] = {}
    for flag in Flag.for_service(service) if flags is None else flags:
        target = next(t for t in flag.spec.targets if t.service == service)
        out[flag] = target.project(target.read(settings))
    return out

"""Execution-router settings: every variable it reads, with its default and why.

Config errors stop start-up naming the variable (``load_settings`` raises ``ConfigError``). Live
trading needs two explicit switches (``ALPACA_PAPER=false`` and ``ALPACA_LIVE_TRADING_ENABLED=true``)
so that no single typo moves real money.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import Field, SecretStr, model_validator
from torghut_contracts.enums import Adapter
from torghut_runtime import ServiceSettings
from torghut_runtime.settings import Clock

from .domain.paper import FillModel
from .domain.routing import RoutingPolicy


class ExecutionRouterSettings(ServiceSettings):
    service_name: str = Field(default="execution-router", min_length=1)
    torghut_account: str = Field(default="paper-main", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
                                 description="The account this router trades (TORGHUT_ACCOUNT).")
    clock: Clock = Field(
        default="wall",
        description="'wall' (live): order ages, the router's own reports and paper cancels at the wall clock; "
                    "'event' (replays): at the events' own times (an order's approval; the paper venue's latest "
                    "price, order or fill). Account snapshots are stamped when read, on either clock; under 'event' "
                    "their P&L today is of the venue's day.")

    # -- routing ---------------------------------------------------------------------------------
    execution_primary_adapter: Adapter = Field(default=Adapter.PAPER, description="paper | alpaca | lean")
    execution_fallback_adapter: str = Field(default="alpaca", pattern=r"^(alpaca|paper|none)$",
                                            description="Where an order goes when LEAN fails or may not take it.")
    execution_lean_symbols: str = Field(default="", description="Comma-separated symbols LEAN may take.")
    execution_lean_symbol_policy: str = Field(default="allowlist", pattern=r"^(allowlist|all)$")
    execution_honour_adapter_hint: bool = Field(default=True,
                                                description="Let a decision's adapter_hint pick a configured venue.")
    execution_max_order_age_s: float = Field(
        default=300.0, ge=0,
        description="Approved orders older than this (approved_at vs now) are rejected as stale; 0 turns it off. "
                    "With CLOCK=event an order is as old as its approval: never stale.")
    execution_control_read_through_s: float = Field(
        default=5.0, ge=0, le=300,
        description="Before refusing an order on the control posture, wait up to this long for every control "
                    "command already on the topic to be applied: each topic is read at its own pace, so an order "
                    "can be read before the command produced ahead of it. 0 judges on what is applied.")

    # -- Alpaca ----------------------------------------------------------------------------------
    alpaca_api_key_id: SecretStr | None = None
    alpaca_api_secret_key: SecretStr | None = None
    alpaca_paper: bool = Field(default=True, description="Paper endpoints unless explicitly false.")
    alpaca_live_trading_enabled: bool = Field(default=False,
                                              description="Must also be true for ALPACA_PAPER=false.")
    alpaca_base_url: str | None = Field(default=None, description="REST URL override (tests, proxies).")
    alpaca_stream_url: str | None = Field(default=None, description="Trade-updates websocket URL override.")
    alpaca_stream_enabled: bool = True
    alpaca_stream_reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    alpaca_http_timeout_s: float = Field(default=10.0, gt=0, le=120)
    alpaca_rate_limit_per_min: int = Field(default=200, ge=1, le=10_000)
    alpaca_rate_limited_retries: int = Field(default=3, ge=0, le=20,
                                             description="Resubmissions after a 429 before the order is refused.")
    alpaca_rate_limit_min_wait_s: float = Field(default=0.05, ge=0, le=60)
    alpaca_rate_limit_max_wait_s: float = Field(default=60.0, gt=0, le=300)

    # -- LEAN runner -----------------------------------------------------------------------------
    lean_runner_url: str | None = Field(default=None, description="e.g. http://torghut-lean-runner:8080")
    lean_runner_timeout_s: float = Field(default=5.0, gt=0, le=120)
    lean_healthcheck_interval_s: float = Field(default=15.0, gt=0)
    lean_healthcheck_timeout_s: float = Field(default=2.0, gt=0, le=60)
    lean_require_healthy: bool = True

    # -- built-in paper venue --------------------------------------------------------------------
    paper_starting_cash: Decimal = Field(default=Decimal("100000"), ge=0)
    paper_slippage_bps: Decimal = Field(default=Decimal("5"), ge=0, le=1000)
    paper_partial_fill_above_qty: Decimal = Field(default=Decimal("100"), gt=0)
    paper_fill_chunk_qty: Decimal = Field(default=Decimal("100"), gt=0)
    paper_max_price_age_s: float = Field(default=60.0, gt=0)

    # -- loops -----------------------------------------------------------------------------------
    reconcile_interval_s: float = Field(default=5.0, gt=0, description="Open and unknown orders checked this often.")
    reconcile_unknown_max_lookups: int = Field(
        default=5, ge=1, description="Not-found lookups before an unacknowledged submit is declared rejected.")
    reconcile_claim_recovery_s: float = Field(
        default=120.0, gt=0, description="A claim (written before venue I/O) this old without an outcome is unknown.")
    snapshot_interval_s: float = Field(default=60.0, gt=0, description="Account snapshot period (also after fills).")
    snapshot_fill_settle_ms: int = Field(
        default=50, ge=0, le=10_000,
        description="After a fill, wait this long before the snapshot: a burst of fills gives one snapshot, "
                    "and the fill's own trade updates leave first.")
    outbox_poll_ms: int = Field(
        default=1000, ge=5, le=60_000,
        description="The outbox relay wakes when the router records a trade update; this is its backstop poll.")

    @model_validator(mode="after")
    def _consistent(self) -> ExecutionRouterSettings:
        configured = self.configured_adapters
        problems = []
        if self.execution_primary_adapter not in configured:
            problems.append(f"EXECUTION_PRIMARY_ADAPTER={self.execution_primary_adapter.value} is not configured "
                            f"({_needs(self.execution_primary_adapter)})")
        fallback = self.fallback_adapter
        lean_in_play = Adapter.LEAN in configured
        if lean_in_play and fallback is not None and fallback not in configured:
            problems.append(f"EXECUTION_FALLBACK_ADAPTER={fallback.value} is not configured ({_needs(fallback)}); "
                            "set it to none or configure it")
        if fallback is Adapter.LEAN:
            problems.append("EXECUTION_FALLBACK_ADAPTER cannot be lean")
        if not self.alpaca_paper and not self.alpaca_live_trading_enabled:
            problems.append("ALPACA_PAPER=false needs ALPACA_LIVE_TRADING_ENABLED=true as well")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def configured_adapters(self) -> frozenset[Adapter]:
        adapters = {Adapter.PAPER}
        if self.alpaca_api_key_id is not None and self.alpaca_api_secret_key is not None:
            adapters.add(Adapter.ALPACA)
        if self.lean_runner_url:
            adapters.add(Adapter.LEAN)
        return frozenset(adapters)

    @property
    def fallback_adapter(self) -> Adapter | None:
        return None if self.execution_fallback_adapter == "none" else Adapter(self.execution_fallback_adapter)

    @property
    def account_venue(self) -> Adapter | None:
        """The venue whose account snapshots describe this account: the primary, or LEAN's fallback."""
        if self.execution_primary_adapter is not Adapter.LEAN:
            return self.execution_primary_adapter
        return self.fallback_adapter

    def routing_policy(self) -> RoutingPolicy:
        symbols = frozenset(s.strip().upper() for s in self.execution_lean_symbols.split(",") if s.strip())
        return RoutingPolicy(primary=self.execution_primary_adapter, fallback=self.fallback_adapter,
                             configured=self.configured_adapters, lean_symbols=symbols,
                             lean_all_symbols=self.execution_lean_symbol_policy == "all",
                             honour_hints=self.execution_honour_adapter_hint,
                             lean_require_healthy=self.lean_require_healthy)

    def fill_model(self) -> FillModel:
        return FillModel(slippage_bps=self.paper_slippage_bps,
                         partial_fill_above_qty=self.paper_partial_fill_above_qty,
                         chunk_qty=self.paper_fill_chunk_qty,
                         max_price_age=timedelta(seconds=self.paper_max_price_age_s))


def _needs(adapter: Adapter) -> str:
    return {Adapter.ALPACA: "set ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY",
            Adapter.LEAN: "set LEAN_RUNNER_URL", Adapter.PAPER: "always available"}[adapter]

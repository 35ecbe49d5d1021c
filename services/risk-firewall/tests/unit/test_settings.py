"""One typed config: defaults, a limits file, per-key environment overrides, and errors that name the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from torghut_risk_firewall.domain.limits import RiskLimits
from torghut_risk_firewall.settings import load_firewall_settings
from torghut_runtime import ConfigError

BASE = {"kafka_bootstrap_servers": "127.0.0.1:9092", "database_url": "postgresql://u@h/db"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RISK_") or name in ("TORGHUT_ACCOUNT", "TORGHUT_ACCOUNTS", "CLOCK"):
            monkeypatch.delenv(name)


def test_defaults_are_the_documented_ones() -> None:
    settings = load_firewall_settings(**BASE)
    assert settings.service_name == "risk-firewall" and settings.torghut_account == "paper-main"
    assert settings.clock == "wall" and settings.risk_limits == RiskLimits()
    assert settings.risk_limits.max_orders_per_minute < 200


def test_a_file_sets_limits_and_the_environment_overrides_single_keys(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "limits.yaml"
    file.write_text("max_notional_per_trade: 5000\nallowed_symbols: [NVDA, AAPL]\nnew_exposure_cutoff_et: '15:00'\n")
    monkeypatch.setenv("RISK_LIMITS_FILE", str(file))
    monkeypatch.setenv("RISK_LIMITS__MAX_NOTIONAL_PER_TRADE", "2500")
    monkeypatch.setenv("RISK_LIMITS__ALLOW_SHORTS", "true")
    limits = load_firewall_settings(**BASE).risk_limits
    assert limits.max_notional_per_trade == Decimal(2500) and limits.allow_shorts
    assert limits.allowed_symbols == ("AAPL", "NVDA") and str(limits.new_exposure_cutoff_et) == "15:00:00"


@pytest.mark.parametrize(("content", "named"), [
    ("max_notional_per_trade: lots\n", "max_notional_per_trade"),
    ("max_notional_per_trad: 5000\n", "max_notional_per_trad"),
    ("max_order_pct_equity: 1.5\n", "max_order_pct_equity"),
    ("max_orders_per_minute: 250\n", "max_orders_per_minute"),
    ("allowed_symbols: [aapl]\n", "allowed_symbols"),
    ("flatten_start_et: '15:20'\n", "flatten_start_et"),
    ("- just a list\n", "RISK_LIMITS_FILE"),
    ("max_notional: [unclosed\n", "RISK_LIMITS_FILE"),
])
def test_a_malformed_limit_in_the_file_stops_start_up_naming_the_key(tmp_path: Path, content: str,
                                                                     named: str) -> None:
    file = tmp_path / "limits.yaml"
    file.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_firewall_settings(**BASE, risk_limits_file=file)
    assert named in str(error.value)


def test_a_malformed_environment_override_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISK_LIMITS__COOLDOWN_S", "soon")
    with pytest.raises(ConfigError, match="RISK_LIMITS__COOLDOWN_S"):
        load_firewall_settings(**BASE)


def test_a_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RISK_LIMITS_FILE"):
        load_firewall_settings(**BASE, risk_limits_file=tmp_path / "absent.yaml")


@pytest.mark.parametrize(("env", "clock", "deprecated"), [
    ({"CLOCK": "event"}, "event", []),
    ({"RISK_CLOCK": "event"}, "event", ["RISK_CLOCK"]),                # the old name, warned about at start-up
    ({"CLOCK": "event", "RISK_CLOCK": "event"}, "event", ["RISK_CLOCK"]),
])
def test_clock_and_its_former_name(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], clock: str,
                                   deprecated: list[str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_firewall_settings(**BASE)
    assert settings.clock == clock and [r.old for r in settings.renamed_variables_in_use] == deprecated


def test_clock_and_risk_clock_disagreeing_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK", "wall")
    monkeypatch.setenv("RISK_CLOCK", "event")
    with pytest.raises(ConfigError, match="CLOCK='wall' and the deprecated RISK_CLOCK='event'"):
        load_firewall_settings(**BASE)


def test_one_account_by_default_and_a_comma_separated_list_in_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_firewall_settings(**BASE).managed_accounts == ("paper-main",)
    monkeypatch.setenv("TORGHUT_ACCOUNTS", "paper-b, paper-a,,paper-c")
    assert load_firewall_settings(**BASE).managed_accounts == ("paper-a", "paper-b", "paper-c")
    monkeypatch.setenv("TORGHUT_ACCOUNT", "paper-b")  # named in the list too: agreed, nothing to guess
    assert load_firewall_settings(**BASE).managed_accounts == ("paper-a", "paper-b", "paper-c")


@pytest.mark.parametrize(("accounts", "account", "named"), [
    ("paper-a,bad account", None, "TORGHUT_ACCOUNTS"),
    ("paper-a,paper-a", None, "named twice"),
    ("paper-a,paper-b", "paper-c", "TORGHUT_ACCOUNT 'paper-c' is not in TORGHUT_ACCOUNTS"),
])
def test_an_ambiguous_or_malformed_account_list_stops_start_up(monkeypatch: pytest.MonkeyPatch, accounts: str,
                                                               account: str | None, named: str) -> None:
    monkeypatch.setenv("TORGHUT_ACCOUNTS", accounts)
    if account is not None:
        monkeypatch.setenv("TORGHUT_ACCOUNT", account)
    with pytest.raises(ConfigError) as error:
        load_firewall_settings(**BASE)
    assert named in str(error.value)

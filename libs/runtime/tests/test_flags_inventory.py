"""Parity of deploy/flags/features.yaml, the typed registry (torghut_runtime.flags.Flag) and the services.

* every flag in the file is in the registry and vice versa, with the same type (boolean) and the
  file's ``enabled`` equal to the registry default;
* every target setting exists on its service's settings class (imported here by dotted path; the
  library itself never imports a service), and its code default reads as the flag's default, so
  turning flags on with the shipped file changes nothing;
* every boolean setting of every service is either a flag or listed below with the reason it is not.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from torghut_embedded.flags_server import load_features
from torghut_runtime.flags import Flag, Target

REPO = Path(__file__).resolve().parents[3]
FEATURES = REPO / "deploy" / "flags" / "features.yaml"

SETTINGS_CLASSES = {
    "decision-client": "torghut_decision_client.settings:DecisionClientSettings",
    "decision-engine": "torghut_decision_engine.settings:DecisionEngineSettings",
    "execution-router": "torghut_execution_router.settings:ExecutionRouterSettings",
    "risk-firewall": "torghut_risk_firewall.settings:RiskFirewallSettings",
    "signal-trigger": "torghut_signal_trigger.settings:SignalTriggerSettings",
    "whitepaper-ingest": "torghut_whitepaper_ingest.settings:WhitepaperSettings",
}
#: Services without a settings class: the environment variable must be read in their source.
ENV_SERVICES = {"research": "torghut_research"}

#: Boolean settings that are deliberately not flags.
NOT_FLAGS = {
    ("decision-client", "risk_kill_switch_enabled"):
        "the kill switch is a command on torghut.control.v1 (audited), not a flag",
    ("decision-client", "llm_response_schema"):
        "a property of the model server (does it take a schema), fixed by what LLM_MODEL is served by",
    ("decision-engine", "decision_engine_fault_injection"): "tests only",
    ("decision-engine", "decision_engine_llm_response_schema"):
        "a property of the model server (does it take a schema), as for the decision-client",
    ("decision-engine", "litellm_local_model_cost_map"): "read once before dspy is imported",
    ("execution-router", "alpaca_paper"): "live trading is a two-key deploy-time switch, never one flag",
    ("execution-router", "alpaca_live_trading_enabled"): "live trading is a two-key deploy-time switch",
    ("risk-firewall", "risk_limits.participation_requires_volume"):
        "a risk limit whose default is the loose value; changed with the limits file and its review",
    ("risk-firewall", "risk_limits.enforce_trading_windows"): "off only for demos, never an operator switch",
    ("risk-firewall", "risk_limits.scheduled_flatten_enabled"):
        "end-of-day flattening is part of the limits file and its review",
}


def _settings_class(service: str) -> type[BaseModel]:
    module, _, name = SETTINGS_CLASSES[service].partition(":")
    cls: type[BaseModel] = getattr(importlib.import_module(module), name)
    return cls


def _field_default(model: type[BaseModel], path: str) -> Any:
    """The code default of a dotted field path, without building the settings (they need env vars)."""
    head, _, rest = path.partition(".")
    assert head in model.model_fields, f"{model.__name__} has no setting {head!r}"
    value = model.model_fields[head].get_default(call_default_factory=True)
    for part in rest.split(".") if rest else []:
        assert hasattr(value, part), f"{model.__name__}.{head} has no field {part!r}"
        value = getattr(value, part)
    return value


def _bool_settings(model: type[BaseModel], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, info in model.model_fields.items():
        if info.annotation is bool:
            found.add(prefix + name)
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            found |= _bool_settings(info.annotation, f"{prefix}{name}.")
    return found


def test_file_and_registry_hold_the_same_flags() -> None:
    namespaces = load_features([FEATURES])
    assert set(namespaces) == {"default"}
    in_file = namespaces["default"].flags
    registry = {f.key: f for f in Flag}
    assert set(in_file) == set(registry), (
        f"only in the file: {sorted(set(in_file) - set(registry))}; "
        f"only in the registry: {sorted(set(registry) - set(in_file))}")
    assert len(registry) == len(Flag), "duplicate keys in the registry"
    for key, flag in registry.items():
        assert in_file[key].type == "BOOLEAN_FLAG_TYPE", key
        assert in_file[key].enabled is flag.spec.default, f"{key}: file enabled != registry default"
        assert not in_file[key].rollouts, f"{key}: the shipped inventory has no rollouts"


@pytest.mark.parametrize("flag", list(Flag), ids=lambda f: f.key)
def test_specs_are_consistent(flag: Flag) -> None:
    spec = flag.spec
    assert spec.targets, flag
    assert len({t.service for t in spec.targets}) == len(spec.targets), "one target per service"
    if not spec.loosens_safety:
        return
    assert spec.default == spec.safe, f"{flag.key}: a loosening flag ships at its safe value"


@pytest.mark.parametrize("target", [(f, t) for f in Flag for t in f.spec.targets],
                         ids=lambda ft: f"{ft[1].service}:{ft[1].setting}")
def test_target_settings_exist(target: tuple[Flag, Target]) -> None:
    flag, t = target
    if t.service in ENV_SERVICES:
        assert t.match == "env_true"
        spec = importlib.util.find_spec(ENV_SERVICES[t.service])
        assert spec is not None and spec.submodule_search_locations
        sources = [p.read_text() for root in spec.submodule_search_locations for p in Path(root).rglob("*.py")]
        assert any(t.setting in s for s in sources), f"{t.service} never reads {t.setting}"
        assert t.project("") is flag.spec.default  # unset variable = the flag default
        return
    assert t.service in SETTINGS_CLASSES, f"unknown service {t.service}"
    default = _field_default(_settings_class(t.service), t.setting)
    if t.match == "is_true":
        assert isinstance(default, bool), f"{t.service} {t.setting} is not a boolean setting"
    assert t.project(default) is flag.spec.default, (
        f"{flag.key}: {t.service} {t.setting} defaults to {default!r}, which reads as {t.project(default)}")


def test_every_boolean_setting_is_a_flag_or_excluded_with_a_reason() -> None:
    mapped = {(t.service, t.setting) for f in Flag for t in f.spec.targets}
    for service in SETTINGS_CLASSES:
        for setting in _bool_settings(_settings_class(service)):
            key = (service, setting)
            assert key in mapped or key in NOT_FLAGS, (
                f"{service} {setting} is a boolean setting: add it to torghut_runtime.flags.Flag and "
                f"deploy/flags/features.yaml, or to NOT_FLAGS here with the reason")
    stale = [k for k in NOT_FLAGS if k in mapped]
    assert not stale, f"both a flag and excluded: {stale}"

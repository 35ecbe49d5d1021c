"""Every environment variable a service's settings class reads can be set through compose and the chart.

The services are discovered by importing ``torghut_<pkg>.settings`` for each deploy service; the only
tolerated absence is an explicit PENDING entry, and that list fails as soon as it is out of date.
The variable names are the settings classes' own (``model_fields`` through pydantic-settings' env
source, so prefixes and aliases count), and the values compose and the chart pass by default must
parse back to the class's defaults, except where the stack deliberately sets its own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

#: Every long-running service (deploy/generate.py SERVICES, checked below).
SERVICES = ["signal-trigger", "decision-client", "decision-engine", "risk-firewall", "execution-router",
            "whitepaper-ingest", "market-data", "ta", "clickhouse-sink", "operator-console"]
#: Services whose settings module does not exist yet. Keep in sync: a test fails once one appears.
PENDING: set[str] = set()

#: Credentials optional in the deploy (the Secret may lack them while the service is off) that a service's
#: default configuration needs: market-data streams from Alpaca by default.
CREDENTIALS = {"market-data": {"ALPACA_API_KEY_ID": "key-id", "ALPACA_API_SECRET_KEY": "secret-key"}}

#: Well-formed stand-ins for required credentials whose form the settings check.
WELL_FORMED = {"DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/torghut",
               "CLICKHOUSE_URL": "clickhouse://u:p@clickhouse:9000/torghut"}

#: Sentinels for the variables values.schema.json constrains.
VALID_SENTINELS = {"TOPIC_PREFIX": "fromvalues.", "LOG_LEVEL": "WARNING"}

Render = Callable[[dict[str, Any]], dict[str, str]]
Objects = Callable[[str], list[dict[str, Any]]]


def test_service_list_matches_the_generator(generator: ModuleType) -> None:
    assert SERVICES == list(generator.SERVICES)
    assert PENDING <= set(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_pending_list_is_current(generator: ModuleType, service: str) -> None:
    exists = generator.settings_class(generator.SERVICES[service]) is not None
    if service in PENDING:
        assert not exists, f"{service} now has settings: remove it from PENDING and run deploy/generate.py"
    else:
        assert exists, f"{generator.SERVICES[service]}.settings is missing (add {service} to PENDING only if it " \
                       "is genuinely not written yet)"


@pytest.fixture
def settings_of(generator: ModuleType, service: str) -> type[BaseSettings]:
    if service in PENDING:
        pytest.skip(f"{service} is PENDING: its settings class does not exist yet")
    cls = generator.settings_class(generator.SERVICES[service])
    assert cls is not None
    return cls  # type: ignore[no-any-return]


def _deployment(deploy: Any, objects: list[dict[str, Any]], service: str) -> dict[str, Any]:
    (deployment,) = [d for d in deploy.find(objects, "Deployment")
                     if d["metadata"]["labels"]["app.kubernetes.io/component"] == service]
    return deployment


# -- coverage -------------------------------------------------------------------------------------
@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_can_be_set_through_compose(compose_config: dict[str, Any], generator: ModuleType,
                                                  settings_of: type[BaseSettings], service: str) -> None:
    environment = compose_config["services"][service]["environment"]
    missing = [v.name for v in generator.env_vars(settings_of) if v.name not in environment]
    assert not missing, f"compose does not pass {missing} to {service}: run deploy/generate.py"


@pytest.mark.parametrize("values_name", ["default", "all-features-values"])
@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_reaches_the_chart_deployment(rendered_objects: Objects, render: Render, deploy: Any,
                                                    generator: ModuleType, settings_of: type[BaseSettings],
                                                    service: str, values_name: str) -> None:
    objects = _objects_with(service, values_name, rendered_objects, render, deploy)
    sources = deploy.container_env_names(objects, _deployment(deploy, objects, service))
    variables = generator.env_vars(settings_of)
    # Optional ones left unset by default (null) must still be declared in the values, to be set there.
    unset = {v.name for v in variables if v.default is None and not v.secret and not v.required}
    missing = [v.name for v in variables if v.name not in sources and v.name not in unset]
    assert not missing, f"the chart does not give {service} {missing}"
    values = _chart_values(deploy)
    declared = set(values["global"]["config"]) | set(values["services"][service]["config"])
    assert unset <= declared, f"{sorted(unset - declared)} are not declared in values.yaml"


def _objects_with(service: str, values_name: str, rendered_objects: Objects, render: Render, deploy: Any
                  ) -> list[dict[str, Any]]:
    """The objects of a values file, with ``service`` switched on if it is off there (market data is, by default)."""
    overrides = copy.deepcopy(deploy.values_of(values_name))  # values_of's dict is shared
    service_values = overrides.get("services", {}).get(service, {})
    if service_values.get("enabled", _chart_values(deploy)["services"][service]["enabled"]):
        return rendered_objects(values_name)
    overrides.setdefault("services", {}).setdefault(service, {})["enabled"] = True
    return deploy.manifests(render(overrides))  # type: ignore[no-any-return]


def _chart_values(deploy: Any) -> dict[str, Any]:
    import yaml

    values: dict[str, Any] = yaml.safe_load((deploy.chart / "values.yaml").read_text())
    return values


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_is_set_from_the_chart_values(render: Render, deploy: Any, generator: ModuleType,
                                                    settings_of: type[BaseSettings], service: str) -> None:
    """Setting each variable in values (config, secretEnv, port) changes exactly what the pod gets."""
    variables = generator.env_vars(settings_of)
    config = {v.name: f"from-values-{v.name.lower()}" for v in variables
              if not v.secret and v.name not in generator.GLOBAL_VARS and v.name not in generator.CHART_MANAGED_VARS}
    global_config = {v.name: VALID_SENTINELS.get(v.name, f"from-values-{v.name.lower()}") for v in variables
                     if v.name in generator.GLOBAL_VARS}
    secret_env = {v.name: {"key": f"key-{v.name.lower()}", "secretName": f"secret-{service}"}
                  for v in variables if v.secret and v.name not in generator.GLOBAL_VARS}
    values = {"global": {"config": global_config},
              "services": {service: {"enabled": True, "config": config, "secretEnv": secret_env, "port": 9123}}}
    objects = deploy.manifests(render(values))
    deployment = _deployment(deploy, objects, service)
    (configmap,) = deploy.find(objects, "ConfigMap", deployment["metadata"]["name"])
    assert {k: configmap["data"].get(k) for k in config | global_config} == config | global_config
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    for name, ref in secret_env.items():
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == ref["secretName"]
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == ref["key"]
    if "HTTP_PORT" in {v.name for v in variables}:
        assert env["HTTP_PORT"]["value"] == "9123" and container["ports"][0]["containerPort"] == 9123


# -- defaults -------------------------------------------------------------------------------------
@pytest.fixture
def load_from_env(monkeypatch: pytest.MonkeyPatch, generator: ModuleType) -> Iterator[Callable[..., Any]]:
    """Build a settings class from exactly the given environment (nothing of the caller's leaks in)."""
    from torghut_runtime import load_settings

    def load(cls: type[BaseSettings], env: dict[str, str]) -> Any:
        with monkeypatch.context() as patch:
            for name, field in cls.model_fields.items():
                for variable in generator.env_names(cls, name, field):
                    patch.delenv(variable, raising=False)
                    patch.delenv(variable.lower(), raising=False)
            for key, value in env.items():
                patch.setenv(key, value)
            return load_settings(cls)

    yield load


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _assert_defaults(cls: type[BaseSettings], settings: Any, generator: ModuleType, skip: set[str], where: str
                     ) -> None:
    differences = {}
    for name, field in cls.model_fields.items():
        variable = generator.env_names(cls, name, field)[0]
        if variable in skip or field.is_required():
            continue
        default = field.get_default(call_default_factory=True)
        if _plain(getattr(settings, name)) != _plain(default):
            differences[variable] = (getattr(settings, name), default)
    assert not differences, f"{where} does not reproduce the settings' defaults (got, default): {differences}"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_environment_parses_to_the_settings_defaults(compose_config: dict[str, Any], generator: ModuleType,
                                                             settings_of: type[BaseSettings],
                                                             load_from_env: Callable[..., Any], service: str) -> None:
    environment = {k: str(v) for k, v in compose_config["services"][service]["environment"].items() if v is not None}
    environment |= CREDENTIALS.get(service, {})  # from the shell
    settings = load_from_env(settings_of, environment)
    deliberate = set(generator.COMPOSE_VALUES) | set(generator.COMPOSE_SERVICE_VALUES.get(service, {})) \
        | set(CREDENTIALS.get(service, {}))
    _assert_defaults(settings_of, settings, generator, deliberate, f"compose ({service})")


@pytest.mark.parametrize("service", SERVICES)
def test_chart_environment_parses_to_the_settings_defaults(rendered_objects: Objects, render: Render, deploy: Any,
                                                           generator: ModuleType, settings_of: type[BaseSettings],
                                                           load_from_env: Callable[..., Any], service: str) -> None:
    objects = _objects_with(service, "default", rendered_objects, render, deploy)
    deployment = _deployment(deploy, objects, service)
    (configmap,) = deploy.find(objects, "ConfigMap", deployment["metadata"]["name"])
    environment = dict(configmap["data"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    for entry in container["env"]:
        if "value" in entry:
            environment[entry["name"]] = entry["value"]
        elif not entry["valueFrom"]["secretKeyRef"].get("optional"):
            # A required credential: the Secret supplies it at run time; any well-formed value here.
            environment[entry["name"]] = WELL_FORMED.get(entry["name"], "secret")
    environment |= CREDENTIALS.get(service, {})  # from the Secret
    settings = load_from_env(settings_of, environment)
    deliberate = set(generator.GLOBAL_VARS) | set(generator.HELM_SERVICE_VALUES.get(service, {})) \
        | set(CREDENTIALS.get(service, {}))
    _assert_defaults(settings_of, settings, generator, deliberate, f"the chart ({service})")

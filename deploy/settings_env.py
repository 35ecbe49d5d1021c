"""Every environment variable a settings class reads, with its default as the environment would carry it.

The generator's one source of truth about a service's configuration: ``deploy/generate.py`` (through
``deploy/renderers.py``) renders compose's and the chart's environment from what this module reads
off each ``ServiceSettings`` subclass (and ``torghut_runtime.flags``), and decides here which
variables are credentials.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode

#: Names that carry credentials although neither their type (SecretStr) nor their name says so.
SECRET_VARS = {"CLICKHOUSE_URL"}

SECRET = re.compile(r"(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS|DSN|"
                    r"DATABASE_URL)(_|$)")
#: Secret-looking names that are nevertheless plain configuration (a header name, a file path, a TTL).
NOT_SECRET = re.compile(r"_(HEADER|FILE|TTL|PATH|NAME|ENABLED)$")


@dataclass(frozen=True)
class EnvVar:
    """One environment variable a settings class reads."""

    name: str
    field: str
    default: str | None  # rendered as the environment would carry it; None: no value (unset)
    required: bool
    secret: bool
    description: str

    @property
    def secret_key(self) -> str:
        """Key in the credentials Secret: ``ALPACA_API_KEY_ID`` -> ``alpaca-api-key-id``."""
        return self.name.lower().replace("_", "-")


def _contains_secret_str(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_contains_secret_str(arg) for arg in getattr(annotation, "__args__", ()) or ())


def render_env_value(value: Any) -> str | None:
    """A Python default as pydantic-settings would parse it back from the environment."""
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Enum):
        return render_env_value(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        from pydantic import TypeAdapter

        return json.dumps(TypeAdapter(type(value)).dump_python(value, mode="json"), separators=(",", ":"))
    return str(value)


def env_names(settings_cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """Every environment variable name that sets ``field`` (prefix and aliases applied), upper case."""
    source = EnvSettingsSource(settings_cls, case_sensitive=False)
    return [env_name.upper() for _, env_name, _ in source._extract_field_info(field, name)]


def _no_decode(field: FieldInfo) -> bool:
    return any(m is NoDecode or isinstance(m, NoDecode) for m in field.metadata)


def _nested_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def env_vars(settings_cls: type[BaseSettings]) -> list[EnvVar]:
    """The variables ``settings_cls`` reads, in field order (one per field: its first name).

    A nested model field (e.g. ``RISK_LIMITS``) is listed unset, followed by one unset variable per
    key when the class has an ``env_nested_delimiter`` (``RISK_LIMITS__MAX_NOTIONAL_PER_TRADE``): the
    class's own defaults (or a file it reads) apply unless an operator sets a key, so deploy files must
    not pin every key to today's default.
    """
    result = []
    delimiter = settings_cls.model_config.get("env_nested_delimiter")
    for name, field in settings_cls.model_fields.items():
        env = env_names(settings_cls, name, field)[0]
        required = field.is_required()
        value = None if required else field.get_default(call_default_factory=True)
        nested = _nested_model(field)
        if nested is not None:
            result.append(EnvVar(env, name, None, required, False,
                                 ((field.description or "") + " JSON; unset: the defaults").strip()))
            if delimiter:
                for sub, subfield in nested.model_fields.items():
                    sub_default = render_env_value(getattr(value, sub, None)) if value is not None else None
                    text = (subfield.description or "").strip()
                    shown = "unset" if sub_default is None else sub_default
                    text = (text + " " if text else "") + f"(default {shown})"
                    result.append(EnvVar(f"{env}{delimiter}{sub}".upper(), f"{name}.{sub}", None, False, False,
                                         text))
            continue
        if _no_decode(field) and isinstance(value, list | tuple | set | frozenset | dict) and (
                not value or not isinstance(value, dict)):
            # the field parses its own comma-separated form
            default: str | None = ",".join(str(render_env_value(item)) for item in value)
        else:
            default = render_env_value(value)
        # A name that sounds secret is one only without a default: nobody ships a default credential.
        secret = env in SECRET_VARS or _contains_secret_str(field.annotation) or (
            default is None and bool(SECRET.search(env)) and not NOT_SECRET.search(env))
        result.append(EnvVar(env, name, default, required, secret, (field.description or "").strip()))
    return result


def settings_class(package: str) -> type[BaseSettings] | None:
    """The ServiceSettings subclass defined in ``<package>.settings``; None if the module does not exist."""
    from torghut_runtime import ServiceSettings

    try:
        module = importlib.import_module(f"{package}.settings")
    except ModuleNotFoundError as exc:
        if exc.name in (package, f"{package}.settings"):
            return None
        raise
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, ServiceSettings) and obj is not ServiceSettings
             and obj.__module__ == module.__name__]
    if len(found) != 1:
        raise RuntimeError(f"{module.__name__} must define exactly one ServiceSettings subclass, found {found}")
    return found[0]


def flag_env() -> list[EnvVar]:
    """``TRADING_FEATURE_FLAGS_*``: read by every service through ``torghut_runtime.flags``."""
    from torghut_runtime.flags import FeatureFlagSettings

    return env_vars(FeatureFlagSettings)

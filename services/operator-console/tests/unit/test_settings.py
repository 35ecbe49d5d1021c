"""Bad console configuration stops start-up, naming the variable."""

from __future__ import annotations

import pytest
from torghut_operator_console.settings import ConsoleSettings
from torghut_runtime import ConfigError, load_settings

BASE = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "DATABASE_URL": "postgresql://u:p@127.0.0.1/db"}


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> ConsoleSettings:
    for key, value in {**BASE, **env}.items():
        monkeypatch.setenv(key, value)
    return load_settings(ConsoleSettings)


@pytest.mark.parametrize(("env", "named"), [
    ({"CONSOLE_OPERATOR_PASSWORD": "short"}, "CONSOLE_OPERATOR_PASSWORD"),
    ({"CONSOLE_VIEWER_PASSWORD": "short"}, "CONSOLE_VIEWER_PASSWORD"),
    ({"CONSOLE_MODE": "demo", "CONSOLE_OPERATOR_PASSWORD": ""}, "CONSOLE_OPERATOR_PASSWORD"),
    ({"CONSOLE_OPERATOR_PASSWORD": "same-password-1", "CONSOLE_VIEWER_PASSWORD": "same-password-1"},
     "CONSOLE_VIEWER_PASSWORD"),
    ({"CONSOLE_SERVICES": "risk-firewall=ftp://x"}, "CONSOLE_SERVICES"),
    ({"CONSOLE_SERVICES": "http://no-name:8080"}, "CONSOLE_SERVICES"),
    ({"CONSOLE_MODE": "staging"}, "CONSOLE_MODE"),
])
def test_a_bad_setting_stops_start_up_naming_it(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load(monkeypatch, **env)


def test_production_has_no_default_password_and_secure_cookies(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch)
    assert settings.console_operator_password is None and settings.console_viewer_password is None
    assert settings.secure_cookies


def test_services_parse_into_names_and_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, CONSOLE_MODE="demo", CONSOLE_OPERATOR_PASSWORD="demo",
                    CONSOLE_SERVICES=" risk-firewall=http://127.0.0.1:8081/ , execution-router=http://r:80")
    assert settings.watched_services() == {"risk-firewall": "http://127.0.0.1:8081",
                                           "execution-router": "http://r:80"}
    assert not settings.secure_cookies

"""Configuration: fail closed on an enabled workflow without a webhook secret; token fallbacks."""

from __future__ import annotations

from typing import Any

import pytest
from torghut_runtime import ConfigError, load_settings
from torghut_whitepaper_ingest.settings import WhitepaperSettings

BASE: dict[str, Any] = {"kafka_bootstrap_servers": "k:9092", "database_url": "postgresql://x/y"}


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_enabling_the_workflow_without_a_webhook_secret_is_a_config_error(secret: str | None) -> None:
    with pytest.raises(ConfigError, match="GITHUB_WEBHOOK_SECRET"):
        load_settings(WhitepaperSettings, **BASE, whitepaper_workflow_enabled=True, github_webhook_secret=secret)


def test_defaults_are_off_and_closed() -> None:
    settings = load_settings(WhitepaperSettings, **BASE)
    assert settings.whitepaper_workflow_enabled is False
    assert settings.control_token is None and settings.webhook_secret is None
    assert settings.whitepaper_agentrun_submit_url == "http://agents.agents.svc.cluster.local/v1/agent-runs"
    assert settings.whitepaper_requeue_comment_keyword == "research whitepaper"
    assert settings.whitepaper_object_store == "local"
    assert settings.schema_name == "whitepaper_ingest"


def test_token_fallbacks() -> None:
    only_jangar = load_settings(WhitepaperSettings, **BASE, jangar_api_key="j")
    assert (only_jangar.control_token, only_jangar.agentrun_token) == ("j", "j")
    both = load_settings(WhitepaperSettings, **BASE, jangar_api_key="j", whitepaper_workflow_api_token="w",
                         agents_api_key="a")
    assert (both.control_token, both.agentrun_token) == ("w", "a")


def test_a_bad_value_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="WHITEPAPER_OBJECT_STORE"):
        load_settings(WhitepaperSettings, **BASE, whitepaper_object_store="ftp")

"""JANGAR_BASE_URL: the accepted spellings normalise to one endpoint; anything else stops start-up."""

from __future__ import annotations

import pytest
from torghut_decision_client.domain.jangar_url import chat_completions_url, openai_api_base
from torghut_decision_client.settings import DecisionClientSettings
from torghut_runtime import ConfigError, load_settings

ENDPOINT = "http://jangar.jangar.svc.cluster.local/openai/v1/chat/completions"


@pytest.mark.parametrize("base", [
    "http://jangar.jangar.svc.cluster.local",
    "http://jangar.jangar.svc.cluster.local/",
    "http://jangar.jangar.svc.cluster.local/openai/v1",
    "http://jangar.jangar.svc.cluster.local/openai/v1/",
    "http://jangar.jangar.svc.cluster.local/openai/v1/chat/completions",
    "  http://jangar.jangar.svc.cluster.local/openai/v1/chat/completions/  ",
])
def test_accepted_base_urls_normalise_to_the_chat_completions_endpoint(base: str) -> None:
    assert chat_completions_url(base) == ENDPOINT
    assert openai_api_base(base) == "http://jangar.jangar.svc.cluster.local/openai/v1"


def test_the_port_and_scheme_are_kept() -> None:
    assert chat_completions_url("https://127.0.0.1:8443/") == "https://127.0.0.1:8443/openai/v1/chat/completions"


@pytest.mark.parametrize(("base", "problem"), [
    ("", "empty"),
    ("jangar:8080", "http(s)"),
    ("ftp://jangar/openai/v1", "http(s)"),
    ("http:///openai/v1", "host"),
    ("http://jangar/api/v1", "path must be"),
    ("http://jangar/openai", "path must be"),
    ("http://jangar/openai/v1/completions", "path must be"),
    ("http://jangar/openai/v1?x=1", "query"),
    ("http://jangar/openai/v1#frag", "fragment"),
    ("http://jangar:notaport/", "port"),
])
def test_malformed_base_urls_are_refused_with_the_reason(base: str, problem: str) -> None:
    with pytest.raises(ValueError, match="." if problem == "" else None) as info:
        chat_completions_url(base)
    assert problem in str(info.value)


def test_a_malformed_jangar_base_url_stops_start_up_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1/db")
    monkeypatch.setenv("JANGAR_BASE_URL", "http://jangar/v2/chat")
    with pytest.raises(ConfigError) as info:
        load_settings(DecisionClientSettings)
    assert "JANGAR_BASE_URL" in str(info.value)
    assert "path must be" in str(info.value)

"""The OpenFeature Flipt provider (Flipt's OFREP API), with a strict answer check and bearer auth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .flag_settings import FeatureFlagSettings


def _check_ofrep_answer(response: Any, *args: Any, **kwargs: Any) -> Any:
    """A ``requests`` response hook: a 2xx OFREP answer must carry a boolean ``value``, a known
    ``reason`` and a ``variant``; anything else is a malformed answer (the provider would otherwise
    return the default value as if the server had said so)."""
    from openfeature.exception import ParseError
    from openfeature.flag_evaluation import Reason

    if not 200 <= response.status_code < 300:
        return response
    try:
        body = response.json()
    except ValueError as exc:
        raise ParseError(f"the flag server's answer is not JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("value"), bool):
        raise ParseError(f"the flag server's answer has no boolean value: {str(body)[:200]}")
    if body.get("reason") not in Reason.__members__ or "variant" not in body:
        raise ParseError(f"the flag server's answer lacks a known reason or a variant: {str(body)[:200]}")
    return response


def _flipt_provider(settings: FeatureFlagSettings) -> Any:
    """The OpenFeature Flipt provider (Flipt's OFREP API), with a strict answer check and bearer auth."""
    from openfeature.contrib.provider.flipt import FliptProvider

    headers: Callable[[], dict[str, str]] | None = None
    if settings.token is not None:
        bearer = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
        headers = lambda: bearer  # noqa: E731
    assert settings.url is not None
    provider = FliptProvider(base_url=settings.url, namespace=settings.namespace, headers_factory=headers,
                             timeout=settings.timeout_ms / 1000)
    provider.session.hooks["response"].append(_check_ofrep_answer)
    return provider

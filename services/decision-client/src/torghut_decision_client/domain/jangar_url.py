"""Jangar's OpenAI-compatible endpoint, from a base URL written any of the ways operators write it.

Upstream accepted ``https://jangar``, ``https://jangar/``, ``https://jangar/openai/v1`` and the full
``.../openai/v1/chat/completions``; anything else (another path, a query, a fragment, no host) is a
configuration error rather than a guess, because a guessed URL that happens to answer is worse than
a service that refuses to start.
"""

from __future__ import annotations

from urllib.parse import urlsplit

OPENAI_PREFIX = "/openai/v1"
CHAT_COMPLETIONS_SUFFIX = "/chat/completions"
_ACCEPTED_PATHS = ("", OPENAI_PREFIX, OPENAI_PREFIX + CHAT_COMPLETIONS_SUFFIX)


def _origin(base_url: str) -> str:
    raw = base_url.strip()
    if not raw:
        raise ValueError("must be an http(s) URL, got an empty value")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise ValueError("must not carry a query or a fragment")
    try:
        parts.port  # noqa: B018 - a non-numeric port raises here
    except ValueError as exc:
        raise ValueError(f"has an invalid port ({exc})") from None
    path = parts.path.rstrip("/")
    if path not in _ACCEPTED_PATHS:
        raise ValueError(f"path must be empty, {OPENAI_PREFIX!r} or {OPENAI_PREFIX + CHAT_COMPLETIONS_SUFFIX!r}, "
                         f"got {parts.path!r}")
    return f"{parts.scheme}://{parts.netloc}"


def openai_api_base(base_url: str) -> str:
    """``<scheme>://<host>/openai/v1``: what an OpenAI client (dspy.LM) is given as ``api_base``."""
    return _origin(base_url) + OPENAI_PREFIX


def chat_completions_url(base_url: str) -> str:
    """``<scheme>://<host>/openai/v1/chat/completions``, or ``ValueError`` saying what is wrong."""
    return openai_api_base(base_url) + CHAT_COMPLETIONS_SUFFIX

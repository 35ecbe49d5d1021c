"""The AgentRun request that runs a DSPy lane on Jangar, and its submission (research-lane.md §4.5).

:func:`build_dspy_agentrun_payload` is pure and raises :class:`AgentRunPayloadError` whose message
is the error code:

- ``idempotency_key_required``; ``unknown_dspy_lane:<lane>``;
- ``repository_base_head_required`` (after stripping), ``artifact_path_required``;
- ``parameter_key_required`` for a blank override key (upstream skipped it silently);
- ``parameter_<k>_must_be_non_null``, ``parameter_<k>_must_be_string_coercible_scalar`` (a mapping,
  list, set, bytes or a non-finite number), ``parameter_<k>_must_be_non_empty``;
- ``ttl_seconds_after_finished_must_be_non_negative``, ``secret_binding_ref_required``,
  ``namespace_required``, ``agent_name_required``, ``vcs_ref_name_required``,
  ``vcs_policy_mode_must_be_read_write_or_read_only``.

Parameters are strings: overrides are stringified and stripped (booleans as ``true``/``false``,
floats by the canonical JSON rule, so never an exponent) and may replace the base keys
(``repository``, ``base``, ``head``, ``artifactPath``, ``issueNumber``).

The idempotency key is made safe for a Kubernetes name: a key of at most 63 characters from
``[A-Za-z0-9_.-]`` is kept; any other key becomes its sanitised first 52 characters, ``-`` and the
first 10 hex digits of its SHA-256, so two different keys never meet in one sanitised key.

:func:`submit_agentrun` POSTs the payload to ``<base_url>/v1/agent-runs`` once, with the
``Idempotency-Key`` header and an optional bearer token, and raises :class:`AgentRunSubmitError`:
``jangar_submit_http_<status>:<first 200 characters of the body>`` for a non-2xx answer,
``invalid_jangar_response`` for an answer that is not a JSON object, ``jangar_submit_timeout`` or
``jangar_submit_transport_error:<type>`` when no answer came. After a timeout the run may or may
not exist (``outcome_unknown``): submitting again with the same key is safe.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from .hashing import CanonicalJsonError, format_decimal, format_float

LANE_SPECS: dict[str, str] = {
    "dataset-build": "torghut-dspy-dataset-build-v1",
    "compile": "torghut-dspy-compile-mipro-v1",
    "eval": "torghut-dspy-eval-v1",
    "gepa-experiment": "torghut-dspy-gepa-experiment-v1",
    "promote": "torghut-dspy-promote-artifact-v1",
}
SUBMIT_PATH = "/v1/agent-runs"
_KEY_OK = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
_KEY_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


class AgentRunPayloadError(ValueError):
    """The AgentRun request cannot be built; ``code`` is the error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class AgentRunSubmitError(RuntimeError):
    def __init__(self, code: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.outcome_unknown = outcome_unknown


def sanitize_idempotency_key(key: str) -> str:
    key = key.strip()
    if not key:
        raise AgentRunPayloadError("idempotency_key_required")
    if _KEY_OK.fullmatch(key):
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{_KEY_BAD_CHARS.sub('-', key)[:52]}-{digest}"


def _parameter(key: str, value: Any) -> str:
    if value is None:
        raise AgentRunPayloadError(f"parameter_{key}_must_be_non_null")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise AgentRunPayloadError(f"parameter_{key}_must_be_string_coercible_scalar")
        try:
            text = format_float(value) if isinstance(value, float) else format_decimal(value)
        except CanonicalJsonError:
            raise AgentRunPayloadError(f"parameter_{key}_must_be_string_coercible_scalar") from None
    else:
        raise AgentRunPayloadError(f"parameter_{key}_must_be_string_coercible_scalar")
    text = text.strip()
    if not text:
        raise AgentRunPayloadError(f"parameter_{key}_must_be_non_empty")
    return text


def _required(value: str, code: str) -> str:
    value = (value or "").strip()
    if not value:
        raise AgentRunPayloadError(code)
    return value


def build_dspy_agentrun_payload(*, lane: str, idempotency_key: str, repository: str, base: str, head: str,
                                artifact_path: str, issue_number: str | int = "0",
                                parameter_overrides: Mapping[str, Any] | None = None, namespace: str = "agents",
                                agent_name: str = "codex-agent", vcs_ref_name: str = "github",
                                vcs_policy_mode: str = "read-write",
                                secret_binding_ref: str = "codex-github-token",
                                ttl_seconds_after_finished: int = 14400) -> dict[str, Any]:
    if not (idempotency_key or "").strip():
        raise AgentRunPayloadError("idempotency_key_required")
    key = sanitize_idempotency_key(idempotency_key)
    spec = LANE_SPECS.get(lane)
    if spec is None:
        raise AgentRunPayloadError(f"unknown_dspy_lane:{lane}")
    parameters = {"repository": (repository or "").strip(), "base": (base or "").strip(),
                  "head": (head or "").strip(), "artifactPath": (artifact_path or "").strip(),
                  "issueNumber": _parameter("issueNumber", issue_number)}
    for name, value in (parameter_overrides or {}).items():
        name = str(name).strip()
        if not name:
            raise AgentRunPayloadError("parameter_key_required")
        parameters[name] = _parameter(name, value)
    if not (parameters["repository"] and parameters["base"] and parameters["head"]):
        raise AgentRunPayloadError("repository_base_head_required")
    if not parameters["artifactPath"]:
        raise AgentRunPayloadError("artifact_path_required")
    if vcs_policy_mode not in ("read-write", "read-only"):
        raise AgentRunPayloadError("vcs_policy_mode_must_be_read_write_or_read_only")
    if isinstance(ttl_seconds_after_finished, bool) or not isinstance(ttl_seconds_after_finished, int) \
            or ttl_seconds_after_finished < 0:
        raise AgentRunPayloadError("ttl_seconds_after_finished_must_be_non_negative")
    return {
        "namespace": _required(namespace, "namespace_required"),
        "idempotencyKey": key,
        "agentRef": {"name": _required(agent_name, "agent_name_required")},
        "implementationSpecRef": {"name": spec},
        "runtime": {"type": "job"},
        "vcsRef": {"name": _required(vcs_ref_name, "vcs_ref_name_required")},
        "vcsPolicy": {"required": True, "mode": vcs_policy_mode},
        "parameters": dict(sorted(parameters.items())),
        "policy": {"secretBindingRef": _required(secret_binding_ref, "secret_binding_ref_required")},
        "ttlSecondsAfterFinished": ttl_seconds_after_finished,
    }


def submit_url(base_url: str) -> str:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AgentRunPayloadError("jangar_base_url_must_be_http_or_https")
    base = base_url.strip().rstrip("/")
    return base if base.endswith(SUBMIT_PATH) else base + SUBMIT_PATH


def submit_agentrun(base_url: str, payload: Mapping[str, Any], *, idempotency_key: str | None = None,
                    auth_token: str | None = None, timeout_s: float = 20.0) -> dict[str, Any]:
    """POST the payload to Jangar once; the answer (a JSON object), or AgentRunSubmitError."""
    import httpx

    url = submit_url(base_url)
    key = idempotency_key or str(payload.get("idempotencyKey") or "")
    if not key.strip():
        raise AgentRunPayloadError("idempotency_key_required")
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    if auth_token:
        headers["Authorization"] = f"Bearer {auth_token}"
    try:
        response = httpx.post(url, json=dict(payload), headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        raise AgentRunSubmitError("jangar_submit_timeout", outcome_unknown=True) from None
    except httpx.HTTPError as exc:
        raise AgentRunSubmitError(f"jangar_submit_transport_error:{type(exc).__name__}",
                                  outcome_unknown=not isinstance(exc, httpx.ConnectError)) from None
    if not 200 <= response.status_code < 300:
        raise AgentRunSubmitError(f"jangar_submit_http_{response.status_code}:{response.text[:200]}")
    try:
        document = response.json()
    except ValueError:
        raise AgentRunSubmitError("invalid_jangar_response") from None
    if not isinstance(document, dict):
        raise AgentRunSubmitError("invalid_jangar_response")
    return document

"""Reason codes on a fail-closed hold, so the audit trail says why no trade was proposed.

They are part of what downstream services and operators key on: add codes, never rename one.
"""

from __future__ import annotations

PORTFOLIO_UNAVAILABLE = "portfolio_unavailable"
"""No account snapshot has been seen for the configured account."""
PORTFOLIO_STALE = "portfolio_stale"
"""The latest snapshot is older than PORTFOLIO_MAX_AGE_S at the trigger's event time."""

ENGINE_TIMEOUT = "engine_timeout"
"""No final answer within the deadline (ours, or the engine's own hard run timeout)."""
ENGINE_STALLED = "engine_stalled"
"""Connected, heartbeats arriving, but no new event within the staleness watchdog."""
ENGINE_ERROR = "engine_error"
"""The engine ended the run with decision.error, or answered with an unusable response."""
ENGINE_MALFORMED_FINAL = "engine_malformed_final"
"""A final answer arrived but is not a valid decision for this request."""
ENGINE_UNAVAILABLE = "engine_unavailable"
"""The engine could not be reached (connection refused, resets, 5xx) after every retry."""
ENGINE_REJECTED_REQUEST = "engine_rejected_request"
"""The engine refused our request (4xx): retrying would not help."""
ENGINE_STREAM_TRUNCATED = "engine_stream_truncated"
"""A chat-completions stream ended before its [DONE] marker."""
ENGINE_ANSWER_OVERLONG = "engine_answer_overlong"
"""A chat-completions answer ran past the token limit we asked for (LLM_MAX_TOKENS): the server ignores
it. The stream is cut as soon as it has sent more pieces than that many tokens can make."""

DSPY_NOT_ACTIVE = "dspy_runtime_not_active"
"""LLM_DSPY_RUNTIME_MODE=active but the torghut_llm_dspy_active feature flag is off (or not yet answered)."""
DSPY_TIMEOUT = "dspy_timeout"
DSPY_LM_ERROR = "dspy_lm_error"
DSPY_PARSE_ERROR = "dspy_parse_error"

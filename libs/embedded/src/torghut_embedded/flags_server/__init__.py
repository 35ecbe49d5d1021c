"""A Flipt-compatible flag evaluation server, for demos and tests (no Flipt binary is installable here).

It reads Flipt's own declarative ``features.yaml`` (one namespace per file or per YAML document) and
answers Flipt's evaluation API with Flipt's request and response shapes:

* ``POST /evaluate/v1/boolean``  ``{namespaceKey, flagKey, entityId, context}`` ->
  ``{enabled, reason, requestId, requestDurationMillis, timestamp, flagKey, segmentKeys}``;
  an unknown flag is HTTP 404 with a gRPC-gateway error body ``{code: 5, message, details}``.
* ``POST /evaluate/v1/batch``    ``{requests: [...]}`` -> ``{requestId, responses: [...], requestDurationMillis}``;
  an unknown flag is an ``ERROR_EVALUATION_RESPONSE_TYPE`` entry, the rest are still answered.
* ``POST /ofrep/v1/evaluate/flags/{key}`` (namespace in ``X-Flipt-Namespace``, entity in
  ``context.targetingKey``) -> ``{key, reason, variant, value, metadata}``; ``POST /ofrep/v1/evaluate/flags``
  evaluates every flag of the namespace.
* ``GET /health`` -> ``{"status": "SERVING"}`` (never behind auth).

Request bodies are read the way Flipt's protojson gateway reads them: camelCase or the proto's
snake_case field names, ``null`` for an absent scalar. Boolean evaluation follows Flipt: rollouts are
tried in rank (file) order and the first that matches returns its value (reason ``MATCH``); a threshold
rollout matches when ``crc32(entityId + flagKey) % 100 < percentage``; a segment rollout matches when its
segments match the context (``OR_SEGMENT_OPERATOR``: any, ``AND_SEGMENT_OPERATOR``: all); when none
matches, the flag's own ``enabled`` is returned with reason ``DEFAULT``.

Only boolean flags are served: a ``VARIANT_FLAG_TYPE`` flag is refused when the file is read. With a
bearer token configured every evaluation path needs ``Authorization: Bearer <token>`` (401 otherwise).
The file is re-read when its modification time or size changes (checked at most every
``check_interval_s`` when a request arrives); a file that no longer parses is logged and the last good
one keeps being served. A file that does not parse at start-up stops the server with a
:class:`FeaturesFileError` naming the flag (or segment) and the problem.

Run it: ``python -m torghut_embedded.flags_server --file deploy/flags/features.yaml --port 8013``
(``torghut-infra up`` does this), or in-process with :class:`FlagsServer`.
"""

from __future__ import annotations

from .cli import TOKEN_ENV, main
from .evaluation import DEFAULT_REASON, MATCH_REASON, BooleanResult, evaluate_boolean, threshold_bucket
from .features_file import (
    BOOLEAN_FLAG_TYPE,
    Constraint,
    FeaturesFileError,
    FlagDef,
    Namespace,
    Rollout,
    Segment,
    load_features,
    parse_features,
)
from .http_api import FlagsApp, create_app
from .in_process import FlagsServer
from .store import FlagStore

__all__ = [
    "BOOLEAN_FLAG_TYPE",
    "DEFAULT_REASON",
    "MATCH_REASON",
    "TOKEN_ENV",
    "BooleanResult",
    "Constraint",
    "FeaturesFileError",
    "FlagDef",
    "FlagStore",
    "FlagsApp",
    "FlagsServer",
    "Namespace",
    "Rollout",
    "Segment",
    "create_app",
    "evaluate_boolean",
    "load_features",
    "main",
    "parse_features",
    "threshold_bucket",
]

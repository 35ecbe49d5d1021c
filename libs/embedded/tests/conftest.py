"""Features files and request helpers for the embedded flag server's tests (test_flags_server_*.py)."""

from __future__ import annotations

import httpx
from torghut_embedded.flags_server import FlagsServer

BASIC = """
namespace: default
flags:
  - key: on_flag
    name: Always on
    type: BOOLEAN_FLAG_TYPE
    enabled: true
  - key: off_flag
    type: BOOLEAN_FLAG_TYPE
    enabled: false
---
namespace: other
flags:
  - key: on_flag
    type: BOOLEAN_FLAG_TYPE
    enabled: false
"""


SEGMENTS = """
namespace: default
segments:
  - key: us-paper
    match_type: ALL_MATCH_TYPE
    constraints:
      - {type: STRING_COMPARISON_TYPE, property: region, operator: eq, value: us}
      - {type: STRING_COMPARISON_TYPE, property: account, operator: prefix, value: paper-}
  - key: big
    match_type: ANY_MATCH_TYPE
    constraints:
      - {type: NUMBER_COMPARISON_TYPE, property: equity, operator: gte, value: "1000000"}
      - {type: STRING_COMPARISON_TYPE, property: tier, operator: isoneof, value: '["gold", "platinum"]'}
  - key: everyone
flags:
  - key: seg_or
    type: BOOLEAN_FLAG_TYPE
    enabled: false
    rollouts:
      - segment: {keys: [us-paper, big], operator: OR_SEGMENT_OPERATOR, value: true}
  - key: seg_and
    type: BOOLEAN_FLAG_TYPE
    enabled: false
    rollouts:
      - segment: {keys: [us-paper, big], operator: AND_SEGMENT_OPERATOR, value: true}
  - key: rank_segment_first
    type: BOOLEAN_FLAG_TYPE
    enabled: true
    rollouts:
      - segment: {key: us-paper, value: false}
      - segment: {key: everyone, value: true}
  - key: rank_catch_all_first
    type: BOOLEAN_FLAG_TYPE
    enabled: true
    rollouts:
      - segment: {key: everyone, value: true}
      - segment: {key: us-paper, value: false}
"""


def _post(server: FlagsServer, path: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers=headers, timeout=5)


def _boolean(server: FlagsServer, flag: str, entity: str = "e1", namespace: str = "default",
             **context: str) -> httpx.Response:
    return _post(server, "/evaluate/v1/boolean",
                 {"namespaceKey": namespace, "flagKey": flag, "entityId": entity, "context": context})

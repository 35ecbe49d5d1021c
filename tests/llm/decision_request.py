"""The decision request the tier asks the model about: the engine's example, its trigger a second old."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from torghut_contracts.decision_engine import DecisionRequest
from torghut_decision_engine.testing import REQUEST_BODY


def decision_request() -> DecisionRequest:
    body = copy.deepcopy(REQUEST_BODY)
    body["trigger"]["event_ts"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    return DecisionRequest.model_validate(body)

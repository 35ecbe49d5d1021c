"""The four DSPy artifact records (research-lane.md §4.2): compile result, eval report, promotion record, bundle.

Pydantic models with upstream's camelCase field names (``model_dump(by_alias=True)``; snake_case
attribute names in Python), extra fields forbidden and frozen. Hashes are stripped, lower-cased
and must be 64 hex characters (``hash_must_be_sha256_hex``).

Differences from upstream, each one fail-closed:

- ``createdAt`` has no default: it is always passed in (from the command's ``--created-at``), never
  the wall clock, so the same inputs give the same bytes. It is kept in UTC and written with ``Z``.
- An eval report can carry a missing metric as ``null`` (upstream raised instead, and no report was
  written); a report with a missing metric, or with ``gateCompatibility: fail``, must recommend
  ``hold``: the model refuses anything else, so no such report can recommend a target.
- A promotion record carries ``reasons``: why it was refused (empty when approved). It is not part
  of the promotion hash (upstream's definition is kept), but it is in the bundle's manifest hashes.
  ``approved: true`` with reasons, or ``approved: false`` without one, is refused.
- A live target is never a recommendation: ``promotionRecommendation`` is hold, shadow or paper.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

PromotionTarget = Literal["paper", "shadow", "constrained_live", "scaled_live"]
Recommendation = Literal["hold", "shadow", "paper"]
GateCompatibility = Literal["pass", "fail"]
PROMOTION_TARGETS: tuple[str, ...] = ("shadow", "paper", "constrained_live", "scaled_live")
LIVE_TARGETS: frozenset[str] = frozenset({"constrained_live", "scaled_live"})
RANK = {"hold": 0, "shadow": 1, "paper": 2, "constrained_live": 3, "scaled_live": 4}
"""How far a target lets the program act: shadow (no orders) < paper < constrained live < scaled live."""


def _sha256(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().lower()
        if _SHA256.fullmatch(value):
            return value
    raise ValueError("hash_must_be_sha256_hex")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Sha256 = Annotated[str, BeforeValidator(_sha256)]
CreatedAt = Annotated[AwareDatetime, AfterValidator(_utc)]
Rate = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        """The JSON-mode, camelCase form that is written and hashed (datetimes as ISO strings with ``Z``)."""
        return self.model_dump(mode="json", by_alias=True)


class DSPyCompileResult(_Record):
    program_name: str = Field(min_length=1)
    signature_versions: dict[str, str]
    optimizer: str = Field(min_length=1)
    dataset_hash: Sha256
    metric_bundle: dict[str, Any]
    compiled_prompt_hash: Sha256
    compiled_artifact_uri: str = Field(min_length=1)
    artifact_hash: Sha256
    reproducibility_hash: Sha256
    created_at: CreatedAt


class DSPyEvalReport(_Record):
    artifact_hash: Sha256
    schema_valid_rate: Rate | None
    veto_alignment_rate: Rate | None
    false_veto_rate: Rate | None
    latency_p95_ms: Annotated[int, Field(ge=0)] | None
    gate_compatibility: GateCompatibility
    promotion_recommendation: Recommendation
    metric_bundle: dict[str, Any] = Field(default_factory=dict)
    eval_hash: Sha256
    created_at: CreatedAt

    @model_validator(mode="after")
    def _fails_closed(self) -> DSPyEvalReport:
        missing = None in (self.schema_valid_rate, self.veto_alignment_rate, self.false_veto_rate,
                           self.latency_p95_ms)
        if missing and self.gate_compatibility != "fail":
            raise ValueError("an eval report with a missing metric must have gateCompatibility fail")
        if self.gate_compatibility == "fail" and self.promotion_recommendation != "hold":
            raise ValueError("an eval report with gateCompatibility fail must recommend hold")
        return self


class DSPyPromotionRecord(_Record):
    artifact_hash: Sha256
    eval_hash: Sha256
    promotion_target: PromotionTarget
    approved: bool
    approval_token_ref: str | None
    promoted_by: str | None
    reasons: list[str] = Field(default_factory=list)
    promotion_hash: Sha256
    created_at: CreatedAt

    @model_validator(mode="after")
    def _reasons_match(self) -> DSPyPromotionRecord:
        if self.approved == bool(self.reasons):
            raise ValueError("an approved record has no reasons; a refused one names at least one")
        return self


class DSPyArtifactBundle(_Record):
    compile_result: DSPyCompileResult
    eval_report: DSPyEvalReport
    promotion_record: DSPyPromotionRecord | None = None
    manifest_hash: Sha256
    artifact_hashes: dict[str, Sha256]

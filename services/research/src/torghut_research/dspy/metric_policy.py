"""The DSPy metric policy (``config/dspy-metrics.yaml``, upstream's keys, research-lane.md §4.4).

Loading refuses a malformed policy with one line that names the file and the key path: an unknown
key, a duplicated key, a wrong type (``"0.995"`` or ``true`` where a number belongs), a rate outside
0..1, a negative latency, an unknown target. A threshold may be absent: the evaluator then fails
the metric closed with ``<metric>_threshold_missing`` instead of passing it.

Two rules go beyond upstream:

- ``promotion.defaultRecommendation`` is hold, shadow or paper, and must be hold or one of
  ``allowedTargets``: a live target can never be recommended by default.
- ``promotion.liveEnabled`` (default false) is the policy's half of the live rule, as
  ``gate5_live_enabled`` is for the lane. ``allowedTargets`` may list the live targets (upstream's
  does) without enabling them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from ..config import describe
from ..errors import InputError
from .hashing import hash_payload
from .schemas import PromotionTarget, Recommendation

SCHEMA_VERSION = "torghut.dspy.metrics.v1"
SHIPPED = Path(__file__).resolve().parents[3] / "config" / "dspy-metrics.yaml"

Rate = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, alias_generator=to_camel,
                              populate_by_name=True)


class Reproducibility(_Strict):
    algorithm: Literal["sha256"] = "sha256"
    required_keys: list[str] = Field(
        default_factory=lambda: ["dataset_hash", "compiled_prompt_hash", "artifact_hash", "reproducibility_hash"])


def _shadow_and_paper() -> list[PromotionTarget]:
    return ["shadow", "paper"]


class Promotion(_Strict):
    default_recommendation: Recommendation = "hold"
    allowed_targets: list[PromotionTarget] = Field(default_factory=_shadow_and_paper)
    require_approval_token: bool = True
    live_enabled: bool = False

    @model_validator(mode="after")
    def _default_is_allowed(self) -> Promotion:
        if self.default_recommendation != "hold" and self.default_recommendation not in self.allowed_targets:
            raise ValueError(f"defaultRecommendation {self.default_recommendation!r} is not one of allowedTargets")
        return self


class Thresholds(_Strict):
    schema_valid_rate_min: Rate | None = None
    veto_alignment_rate_min: Rate | None = None
    """Explicit floor; when absent the floor is the baseline's rate plus ``vetoAlignmentRateMinDelta``."""
    veto_alignment_rate_min_delta: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)] | None = None
    false_veto_rate_max: Rate | None = None
    latency_p95_ms_max: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    fallback_rate_max: Rate | None = None
    """When absent, ``falseVetoRateMax`` bounds the fallback rate (upstream's rule)."""
    hgrm_mean_reward_min: Annotated[float, Field(allow_inf_nan=False)] | None = None
    """Not upstream's, so optional: when set, the mean Janus HGRM reward on the eval split must reach it."""
    gate_compatibility_required: Literal["pass"] = "pass"
    reproducibility: Reproducibility = Field(default_factory=Reproducibility)
    promotion: Promotion = Field(default_factory=Promotion)


class AgentRunDefaults(_Strict):
    namespace: str = Field(default="agents", min_length=1)
    agent_ref_name: str = Field(default="codex-agent", min_length=1)
    vcs_ref_name: str = Field(default="github", min_length=1)
    vcs_policy_mode: Literal["read-write", "read-only"] = "read-write"
    ttl_seconds_after_finished: int = Field(default=14400, ge=0)
    secret_binding_ref: str = Field(default="codex-github-token", min_length=1)


class MetricPolicy(_Strict):
    schema_version: Literal["torghut.dspy.metrics.v1"]
    policy: Thresholds
    agentrun: AgentRunDefaults = Field(default_factory=AgentRunDefaults)

    @property
    def ref(self) -> str:
        """``sha256:<hash>`` of the policy as read, defaults filled in: what an eval report records."""
        return "sha256:" + hash_payload(self.model_dump(mode="json", by_alias=True))


class _NoDuplicates(yaml.SafeLoader):
    pass


def _mapping(loader: _NoDuplicates, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_NoDuplicates.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_metric_policy(raw: Any, origin: str) -> MetricPolicy:
    if not isinstance(raw, dict):
        raise InputError(f"{origin}: the DSPy metric policy must be a mapping, got {type(raw).__name__}")
    try:
        return MetricPolicy.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{origin}: invalid DSPy metric policy: {describe(exc)}") from None


def load_metric_policy(path: Path | None = None) -> MetricPolicy:
    """The policy at ``path`` (YAML or JSON), or the shipped one; raises InputError naming the file and key."""
    path = path or SHIPPED
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the DSPy metric policy: {getattr(exc, 'strerror', None) or exc}") \
            from None
    try:
        raw = yaml.load(text, Loader=_NoDuplicates)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: the DSPy metric policy is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_metric_policy(raw, str(path))

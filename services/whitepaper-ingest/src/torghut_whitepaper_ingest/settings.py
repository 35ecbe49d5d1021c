"""Configuration of whitepaper-ingest: every variable it reads is a field here.

Names follow the upstream workflow (``WHITEPAPER_*``) so an operator's existing values carry over.
Secrets fall back the way upstream's did (control token: ``WHITEPAPER_WORKFLOW_API_TOKEN`` then
``JANGAR_API_KEY``; AgentRun token: ``WHITEPAPER_AGENTRUN_API_TOKEN`` then ``AGENTS_API_KEY`` then
``JANGAR_API_KEY``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from torghut_runtime import ServiceSettings

from .domain.intake import IntakeRules


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


class WhitepaperSettings(ServiceSettings):
    service_name: str = Field(default="whitepaper-ingest", min_length=1)

    # -- gates --------------------------------------------------------------------------------
    whitepaper_workflow_enabled: bool = Field(
        default=False, description="Off by default: the webhook answers 202 'workflow_disabled' and no worker runs.")
    whitepaper_agentrun_auto_dispatch: bool = Field(
        default=True, description="Dispatch the AgentRun as soon as the PDF is stored (else via the control API).")

    # -- webhook ------------------------------------------------------------------------------
    github_webhook_secret: SecretStr | None = Field(
        default=None, description="Secret of the GitHub webhook; required when the workflow is enabled.")
    whitepaper_webhook_max_body_bytes: int = Field(
        default=524_288, ge=1024, le=26_214_400,
        description="Bigger deliveries get 413; the default keeps the Kafka message under a broker's 1 MB default.")

    # -- issue parsing (upstream §7.2) ----------------------------------------------------------
    whitepaper_issue_marker_start: str = Field(default="<!-- TORGHUT_WHITEPAPER:START -->", min_length=1)
    whitepaper_issue_marker_end: str = Field(default="<!-- TORGHUT_WHITEPAPER:END -->", min_length=1)
    whitepaper_requeue_comment_keyword: str = Field(default="research whitepaper", min_length=1)

    # -- PDF download ---------------------------------------------------------------------------
    whitepaper_max_pdf_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    whitepaper_runs_in_flight: int = Field(
        default=8, ge=1, le=64,
        description="Runs whose download, upload or dispatch is in flight at once per replica. Each download "
                    "holds its PDF in memory until stored: size the memory limit for this many "
                    "WHITEPAPER_MAX_PDF_BYTES. More in flight records outcomes in bigger groups (docs/performance.md).")
    whitepaper_download_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    whitepaper_github_token: SecretStr | None = Field(
        default=None, description="Bearer token sent with the PDF download (private attachments).")
    whitepaper_pdf_allowed_hosts: str = Field(
        default="github.com,*.github.com,*.githubusercontent.com,arxiv.org,*.arxiv.org",
        description="Comma-separated hosts a PDF may be fetched from ('*.x' = subdomains, '*' = any).")

    # -- object store ---------------------------------------------------------------------------
    whitepaper_object_store: Literal["local", "s3"] = "local"
    whitepaper_local_store_dir: Path = Path(".torghut/whitepapers")
    whitepaper_s3_bucket: str = Field(default="torghut-whitepapers", min_length=3, max_length=63)
    whitepaper_s3_endpoint_url: str | None = Field(default=None, description="Any S3-compatible endpoint.")
    whitepaper_s3_region: str = "us-east-1"
    whitepaper_s3_access_key_id: SecretStr | None = None
    whitepaper_s3_secret_access_key: SecretStr | None = None

    # -- AgentRun (upstream §7.7) ---------------------------------------------------------------
    whitepaper_agentrun_submit_url: str = Field(
        default="http://agents.agents.svc.cluster.local/v1/agent-runs", pattern=r"^https?://")
    whitepaper_agentrun_api_token: SecretStr | None = None
    agents_api_key: SecretStr | None = None
    jangar_api_key: SecretStr | None = None
    whitepaper_agentrun_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    whitepaper_agentrun_max_attempts: int = Field(default=4, ge=1, le=20)
    whitepaper_agentrun_retry_backoff_seconds: float = Field(default=1.0, ge=0, le=60)
    whitepaper_agentrun_namespace: str = "agents"
    whitepaper_agent_name: str = "codex-whitepaper-agent"
    whitepaper_agentrun_vcs_ref: str = "github"
    whitepaper_agentrun_secret_binding: str = "codex-whitepaper-github-token"
    whitepaper_agentrun_ttl_seconds: int = Field(default=7200, ge=0)
    whitepaper_default_base_branch: str = "main"

    # -- control API ----------------------------------------------------------------------------
    whitepaper_workflow_api_token: SecretStr | None = Field(
        default=None, description="Bearer token of the control API; falls back to JANGAR_API_KEY. "
                                  "With neither set the control API answers 503 to everything.")

    # -- the advancer ---------------------------------------------------------------------------
    whitepaper_lease_seconds: float = Field(
        default=30.0, gt=0, le=3600,
        description="How long a worker owns a run's work without renewing it: renewed every third of this "
                    "while the run is in hand, so a dead worker's runs are taken over within one lease.")

    # -- lifecycle events -----------------------------------------------------------------------
    whitepaper_outbox_sweep_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How often unpublished run events are retried.")

    @model_validator(mode="after")
    def _enabled_needs_a_webhook_secret(self) -> WhitepaperSettings:
        if self.whitepaper_workflow_enabled and not _secret(self.github_webhook_secret):
            raise ValueError("GITHUB_WEBHOOK_SECRET must be set when WHITEPAPER_WORKFLOW_ENABLED=true "
                             "(unsigned webhooks are never accepted)")
        return self

    # -- derived --------------------------------------------------------------------------------
    @property
    def control_token(self) -> str | None:
        return _secret(self.whitepaper_workflow_api_token) or _secret(self.jangar_api_key)

    @property
    def agentrun_token(self) -> str | None:
        return (_secret(self.whitepaper_agentrun_api_token) or _secret(self.agents_api_key)
                or _secret(self.jangar_api_key))

    @property
    def webhook_secret(self) -> str | None:
        return _secret(self.github_webhook_secret)

    @property
    def pdf_allowed_hosts(self) -> tuple[str, ...]:
        return _csv(self.whitepaper_pdf_allowed_hosts)

    @property
    def intake_rules(self) -> IntakeRules:
        return IntakeRules(marker_start=self.whitepaper_issue_marker_start,
                           marker_end=self.whitepaper_issue_marker_end,
                           requeue_keyword=self.whitepaper_requeue_comment_keyword)


def _secret(value: SecretStr | None) -> str | None:
    if value is None:
        return None
    raw = value.get_secret_value().strip()
    return raw or None

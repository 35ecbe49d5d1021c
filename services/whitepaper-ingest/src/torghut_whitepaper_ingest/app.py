"""Assembly: one ServiceRuntime with the webhook, the control API, the issue-event worker, the run advancer
and the outbox relay."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from starlette.routing import Route
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GithubIssueEvent
from torghut_runtime import Gate, ServiceRuntime
from torghut_runtime.flags import FeatureFlags, FeatureFlagSettings, Flag, wire_flags

from .adapters.agentrun_client import AgentRunClient
from .adapters.control_api import ControlApi
from .adapters.object_store import ObjectStore, build_object_store
from .adapters.outbox import RUN_EVENTS_OUTBOX, run_event_message
from .adapters.pdf_fetcher import PdfFetcher
from .adapters.webhook import GithubWebhook
from .advancer import Advancer
from .domain.agentrun import AgentRunConfig
from .handlers import IssueEventHandler
from .metrics import WhitepaperMetrics
from .settings import WhitepaperSettings
from .workflow import Workflow

MIGRATIONS = Path(__file__).parent / "migrations"


class WhitepaperService:
    """The runtime plus the parts tests and operators reach for (workflow, advancer, outbox, object store)."""

    def __init__(self, settings: WhitepaperSettings, *, tracer_provider: TracerProvider | None = None,
                 configure_logs: bool = True, objects: ObjectStore | None = None,
                 flag_settings: FeatureFlagSettings | None = None) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime(settings, migrations=MIGRATIONS, tracer_provider=tracer_provider,
                                      configure_logs=configure_logs)
        self.runtime.produces(topics.GITHUB_ISSUE_EVENTS, topics.WHITEPAPER_RUNS)
        # Auto-dispatch is read per event, the workflow switch per request and by the worker's gate
        # (worker_gate); flags off, both are the settings' values.
        self.flags = flags = wire_flags(self.runtime, "whitepaper-ingest", settings, flag_settings)
        self.metrics = WhitepaperMetrics(self.runtime.registry)
        self.objects = objects or build_object_store(settings)
        self.workflow = Workflow(
            rules=settings.intake_rules,
            fetcher=PdfFetcher(
                max_bytes=settings.whitepaper_max_pdf_bytes, timeout_s=settings.whitepaper_download_timeout_seconds,
                allowed_hosts=settings.pdf_allowed_hosts,
                bearer_token=(settings.whitepaper_github_token.get_secret_value()
                              if settings.whitepaper_github_token else None)),
            objects=self.objects,
            agentruns=AgentRunClient(
                settings.whitepaper_agentrun_submit_url, token=settings.agentrun_token,
                timeout_s=settings.whitepaper_agentrun_timeout_seconds,
                max_attempts=settings.whitepaper_agentrun_max_attempts,
                backoff_s=settings.whitepaper_agentrun_retry_backoff_seconds),
            agentrun_config=AgentRunConfig(
                namespace=settings.whitepaper_agentrun_namespace, agent_name=settings.whitepaper_agent_name,
                vcs_ref=settings.whitepaper_agentrun_vcs_ref,
                secret_binding=settings.whitepaper_agentrun_secret_binding,
                ttl_seconds=settings.whitepaper_agentrun_ttl_seconds,
                default_base_branch=settings.whitepaper_default_base_branch),
            auto_dispatch=lambda: flags.value(Flag.WHITEPAPER_AUTO_DISPATCH),
            metrics=self.metrics,
        )
        self.outbox = self.runtime.outbox(RUN_EVENTS_OUTBOX, run_event_message,
                                          poll_s=settings.whitepaper_outbox_sweep_seconds)

        def workflow_enabled() -> bool:
            return flags.value(Flag.WHITEPAPER_WORKFLOW_ENABLED)

        self.advancer = self._advancer(settings, workflow_enabled)

        webhook = GithubWebhook(secret=settings.webhook_secret, enabled=workflow_enabled,
                                max_body_bytes=settings.whitepaper_webhook_max_body_bytes,
                                publish=self._publish_issue_event, metrics=self.metrics)
        self.worker_gate = worker_gate(flags)
        worker_registered = self.worker_gate is not None or settings.whitepaper_workflow_enabled
        control = ControlApi(settings=settings, engine=self.runtime.engine, workflow=self.workflow,
                             outbox=self.outbox, publish=self._publish_issue_event, metrics=self.metrics,
                             worker_registered=worker_registered, worker_gate=self.worker_gate,
                             object_store_kind=self.objects.kind, workflow_enabled=workflow_enabled)
        self.runtime.add_routes([Route("/webhooks/github", webhook.handle, methods=["POST"]), *control.routes()])
        self.runtime.max_request_bytes = 8 * settings.whitepaper_webhook_max_body_bytes  # the finalize payload
        if worker_registered:
            # Disabled means no consumer at all: nothing is read, so enabling later starts from the
            # committed offsets instead of silently discarding what arrived meanwhile. Group commit: intake
            # touches nothing but its transaction, so a fetch's events share one.
            self.runtime.consume(topics.GITHUB_ISSUE_EVENTS, IssueEventHandler(self.workflow), gate=self.worker_gate,
                                 group_commit=True)
        self.runtime.on_closed(self.workflow.fetcher.aclose)
        self.runtime.on_closed(self.workflow.agentruns.aclose)

    def _advancer(self, settings: WhitepaperSettings, enabled: Callable[[], bool]) -> Advancer:
        """The runs' slow steps, outside any handler's transaction; drained on stop before the broker."""
        advancer = Advancer(
            self.runtime.engine, self.workflow, self.outbox,
            lease_s=settings.whitepaper_lease_seconds,
            retry_backoff_s=settings.consumer_retry_backoff_ms / 1000, concurrency=settings.whitepaper_runs_in_flight,
            enabled=enabled)
        self.workflow.advancer = advancer
        self.runtime.background("run-advancer", advancer.run_forever)

        # The events the last steps record are published by the outbox's final flush, after the stop hooks.
        self.runtime.on_stop(functools.partial(advancer.drain, settings.graceful_timeout_s))
        return advancer

    async def _publish_issue_event(self, event: GithubIssueEvent, headers: MessageHeaders) -> object:
        return await self.runtime.publish(topics.GITHUB_ISSUE_EVENTS, event, headers=headers)



def worker_gate(flags: FeatureFlags) -> Gate | None:
    """With flags enabled, the issue-event worker follows the workflow flag: always subscribed (the flag
    may turn the workflow on whatever the setting says), its events held on the topic while the flag is
    off and handled from where they wait once it is on. ``None`` with flags disabled: the worker is
    there or not by the setting alone, as without flags."""
    if not flags.enabled:
        return None
    gate = Gate(flags.value(Flag.WHITEPAPER_WORKFLOW_ENABLED))
    flags.on_change(Flag.WHITEPAPER_WORKFLOW_ENABLED, gate.set)
    return gate


def build_runtime(settings: WhitepaperSettings) -> ServiceRuntime:
    return WhitepaperService(settings).runtime

"""The AgentRun request for a run (upstream §7.7), built from values only so it is the same on every retry.

The body is what Jangar's ``/v1/agent-runs`` takes: namespace, idempotency key, agent, job runtime,
the implementation text (the prompt), VCS policy, string-only parameters, secret binding and TTL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import ids
from .run import Run

_LABEL_CHARS = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class AgentRunConfig:
    namespace: str = "agents"
    agent_name: str = "codex-whitepaper-agent"
    vcs_ref: str = "github"
    secret_binding: str = "codex-whitepaper-github-token"
    ttl_seconds: int = 7200
    default_base_branch: str = "main"


def _label(value: str) -> str:
    return _LABEL_CHARS.sub("-", value.lower()).strip("-")[:50]


def labels(run: Run) -> list[str]:
    """Sorted unique: whitepaper, torghut, design-doc|analysis-only, subject-*, up to five tag-*."""
    out = {"whitepaper", "torghut", "analysis-only" if run.marker.analysis_mode == "analysis_only" else "design-doc"}
    if run.marker.subject and _label(run.marker.subject):
        out.add("subject-" + _label(run.marker.subject))
    out.update("tag-" + _label(tag) for tag in run.marker.tags[:5] if _label(tag))
    return sorted(out)


def base_branch(run: Run, config: AgentRunConfig) -> str:
    return run.marker.base_branch or config.default_base_branch


def head_branch(run: Run, generation: int) -> str:
    """The marker's head branch, else ``codex/whitepaper-<run_id[-16:]>``; ``-retry-<n>`` on re-dispatch."""
    head = run.marker.head_branch or f"codex/whitepaper-{run.run_id[-16:]}"
    return head if generation <= 1 else f"{head}-retry-{generation - 1}"


def prompt(run: Run, config: AgentRunConfig, generation: int) -> str:
    """What the agent is asked to produce: synthesis.json, verdict.json and (unless analysis only) a design PR."""
    out_dir = f"docs/whitepapers/{run.run_id}"
    lines = [
        f"Analyse the whitepaper attached to {run.issue_url} ({run.repository}#{run.issue_number}: {run.issue_title}).",
        f"Run id: {run.run_id}. Source PDF: {run.object_uri} (sha256 {run.pdf_sha256}),",
        f"originally {run.attachment_url}.",
        f"Subject: {run.marker.subject or 'unspecified'}. Tags: {', '.join(run.marker.tags) or 'none'}.",
        "",
        "Read the paper in full and ground every claim in it (cite sections and page numbers).",
        f"Write {out_dir}/synthesis.json with the keys executive_summary, problem_statement, methodology_summary,",
        "key_findings, novelty_claims, risk_assessment, citations, implementation_plan_md, confidence, and the",
        "structured lists claims, claim_relations, strategy_templates, experiment_specs, contradiction_events.",
        f"Write {out_dir}/verdict.json with verdict (implement | conditional_implement | research_only | reject),",
        "score, confidence, rationale, rejection_reasons, recommendations, requires_followup and gating (g1..g5).",
    ]
    if run.marker.analysis_mode == "analysis_only":
        lines.append("Analysis only: commit the two files, do not write a design document or open a pull request.")
    else:
        lines += [
            f"Write an engineering design document at {out_dir}/design.md that maps the paper onto the current",
            "Torghut code (name the modules and contracts it touches), with workstreams, tests and rollout gates;",
            "live trading stays behind the existing promotion gates.",
            f"Commit on branch {head_branch(run, generation)} and open a pull request against "
            f"{base_branch(run, config)}.",
        ]
    return "\n".join(lines)


def request_body(run: Run, config: AgentRunConfig, generation: int) -> dict[str, Any]:
    """The POST body; ``idempotencyKey`` is the run id (``-retry-<n>`` for a requeue's dispatch)."""
    text = prompt(run, config, generation)
    run_labels = labels(run)
    parameters = {
        "repository": run.repository,
        "base": base_branch(run, config),
        "head": head_branch(run, generation),
        "issueNumber": str(run.issue_number),
        "issueTitle": run.issue_title,
        "issueUrl": run.issue_url,
        "runId": run.run_id,
        "documentKey": run.document_key or "",
        "cephUri": run.object_uri or "",
        "attachmentUrl": run.attachment_url,
        "subject": run.marker.subject or "",
        "tags": ",".join(run.marker.tags),
        "analysisMode": run.marker.analysis_mode,
    }
    return {
        "namespace": config.namespace,
        "idempotencyKey": ids.agentrun_idempotency_key(run.run_id, generation),
        "agentRef": {"name": config.agent_name},
        "runtime": {"type": "job"},
        "implementation": {
            "summary": f"Whitepaper analysis {run.run_id}",
            "text": text,
            "source": {"provider": "github", "url": run.issue_url},
            "vcsRef": {"name": config.vcs_ref},
            "labels": run_labels,
        },
        "vcsRef": {"name": config.vcs_ref},
        "vcsPolicy": {"required": True, "mode": "read-write"},
        "parameters": parameters,
        "policy": {"secretBindingRef": config.secret_binding},
        "ttlSecondsAfterFinished": config.ttl_seconds,
    }

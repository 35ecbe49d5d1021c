"""The AgentRun request body (upstream §7.7): fields, string-only parameters, labels, retry keys and branches."""

from __future__ import annotations

from torghut_contracts.enums import WhitepaperRunStatus as Status
from torghut_whitepaper_ingest.domain import agentrun, ids
from torghut_whitepaper_ingest.domain.agentrun import AgentRunConfig
from torghut_whitepaper_ingest.domain.finalize import FinalizePayload
from torghut_whitepaper_ingest.domain.issue_body import WhitepaperMarker
from torghut_whitepaper_ingest.domain.run import Run

SHA = "ab" * 32
RUN = Run(
    run_id="wp-d72cb1a5c1febdcfbd9dae71", repository="proompteng/lab", issue_number=3589,
    issue_url="https://github.com/proompteng/lab/issues/3589", issue_title="Janus-Q",
    attachment_url="https://arxiv.org/pdf/2602.19919.pdf", pdf_url="https://arxiv.org/pdf/2602.19919.pdf",
    marker=WhitepaperMarker(workflow="whitepaper-analysis-v1", base_branch="main", subject="Event Alpha",
                            tags=("a", "b", "c", "d", "e", "f")),
    status=Status.PDF_STORED, pdf_sha256=SHA, pdf_size_bytes=1234,
    object_uri=f"s3://torghut-whitepapers/{ids.object_key(SHA)}",
)


def test_the_first_dispatch_body() -> None:
    body = agentrun.request_body(RUN, AgentRunConfig(), generation=1)
    assert body["namespace"] == "agents"
    assert body["idempotencyKey"] == RUN.run_id
    assert body["agentRef"] == {"name": "codex-whitepaper-agent"}
    assert body["runtime"] == {"type": "job"}
    assert body["vcsRef"] == {"name": "github"}
    assert body["vcsPolicy"] == {"required": True, "mode": "read-write"}
    assert body["policy"] == {"secretBindingRef": "codex-whitepaper-github-token"}
    assert body["ttlSecondsAfterFinished"] == 7200
    implementation = body["implementation"]
    assert implementation["summary"] == f"Whitepaper analysis {RUN.run_id}"
    assert implementation["source"] == {"provider": "github", "url": RUN.issue_url}
    assert implementation["labels"] == ["design-doc", "subject-event-alpha", "tag-a", "tag-b", "tag-c", "tag-d",
                                        "tag-e", "torghut", "whitepaper"]
    assert "synthesis.json" in implementation["text"] and "verdict.json" in implementation["text"]
    assert f"docs/whitepapers/{RUN.run_id}/design.md" in implementation["text"]
    params = body["parameters"]
    assert all(isinstance(v, str) for v in params.values())
    assert params == {
        "repository": "proompteng/lab", "base": "main", "head": "codex/whitepaper-c1febdcfbd9dae71",
        "issueNumber": "3589", "issueTitle": "Janus-Q",
        "issueUrl": RUN.issue_url, "runId": RUN.run_id, "documentKey": "wpdoc-" + SHA[:24],
        "cephUri": f"s3://torghut-whitepapers/raw/checksum/ab/{SHA}/source.pdf",
        "attachmentUrl": RUN.attachment_url, "subject": "Event Alpha", "tags": "a,b,c,d,e,f",
        "analysisMode": "implementation",
    }


def test_a_redispatch_gets_a_new_key_and_branch() -> None:
    body = agentrun.request_body(RUN, AgentRunConfig(), generation=3)
    assert body["idempotencyKey"] == f"{RUN.run_id}-retry-2"
    assert body["parameters"]["head"] == f"codex/whitepaper-{RUN.run_id[-16:]}-retry-2"


def test_analysis_only_asks_for_no_design_pr() -> None:
    run = Run(**{**RUN.__dict__, "marker": WhitepaperMarker(analysis_mode="analysis_only", head_branch="x/y",
                                                             base_branch=None)})
    body = agentrun.request_body(run, AgentRunConfig(default_base_branch="trunk"), generation=1)
    assert "analysis-only" in body["implementation"]["labels"]
    assert "do not write a design document" in body["implementation"]["text"]
    assert (body["parameters"]["base"], body["parameters"]["head"]) == ("trunk", "x/y")


def test_the_body_is_the_same_on_every_retry() -> None:
    assert agentrun.request_body(RUN, AgentRunConfig(), 1) == agentrun.request_body(RUN, AgentRunConfig(), 1)


def test_finalize_payload_targets() -> None:
    done = FinalizePayload.model_validate({"status": "completed", "verdict": {"score": 0.9},
                                           "design_pull_request": [{"pr_url": "https://x/pr/1"}], "extra": 1})
    assert (done.target_status, done.reason, done.verdict_name) == (Status.FINALIZED, None, "needs_review")
    assert done.design_pull_request_urls() == ["https://x/pr/1"]
    failed = FinalizePayload.model_validate({"status": "failed", "failure_reason": "whitepaper_outputs_missing",
                                             "failure_detail": "no synthesis.json"})
    assert failed.target_status is Status.FAILED
    assert failed.reason == "whitepaper_outputs_missing: no synthesis.json"
    assert FinalizePayload.model_validate({"status": "failed"}).reason == "agentrun_failed"

"""Reading issue events: markers, PDF URLs, run ids and upstream's rejection reasons, as tables."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torghut_contracts.models import GithubIssueEvent
from torghut_whitepaper_ingest.domain import ids
from torghut_whitepaper_ingest.domain.intake import IntakeRules, IssueIntake, Rejected, interpret
from torghut_whitepaper_ingest.domain.issue_body import normalize_url, parse_marker, pdf_urls
from torghut_whitepaper_ingest.testing import comment_payload, issues_payload

RULES = IntakeRules()
T0 = datetime(2026, 2, 26, 12, tzinfo=UTC)
REPO = "proompteng/lab"
START, END = "<!-- TORGHUT_WHITEPAPER:START -->", "<!-- TORGHUT_WHITEPAPER:END -->"
BLOCK = f"{START}\n\nworkflow: whitepaper-analysis-v1\nbase_branch: main\n\n{END}"
PAPER = "https://arxiv.org/pdf/2602.19919.pdf"


def event(body: str, *, kind: str = "issues", action: str | None = None, comment: str | None = None,
          payload: dict[str, Any] | None = None) -> GithubIssueEvent:
    action = action or ("created" if kind == "issue_comment" else "opened")
    if payload is None:
        payload = (comment_payload(REPO, 3589, body, comment or "", action=action) if kind == "issue_comment"
                   else issues_payload(REPO, 3589, body, action=action))
    return GithubIssueEvent(delivery_id="d-1", event=kind, action=action,  # type: ignore[arg-type]
                            repository=REPO, issue_number=3589, received_at=T0, payload=payload)


def expected_run_id(url: str) -> str:
    return "wp-" + hashlib.sha256(f"{REPO}#3589|{url}".encode()).hexdigest()[:24]


BODIES: list[tuple[str, str, str | None]] = [
    # (case, body, expected pdf url or rejection reason prefixed with '!')
    ("marker and markdown link", f"[paper]({PAPER})\n{BLOCK}", PAPER),
    ("bare url", f"see {PAPER}.\n{BLOCK}", PAPER),
    ("markers missing", f"[paper]({PAPER})", "!marker_missing"),
    ("only the start marker", f"[paper]({PAPER})\n{START}\nworkflow: whitepaper-analysis-v1", "!marker_missing"),
    ("end before start", f"{END}\nworkflow: whitepaper-analysis-v1\n{START}\n{PAPER}", "!marker_missing"),
    ("empty block", f"{PAPER}\n{START}\n\n# just a comment\nno colon here\n{END}", "!marker_missing"),
    ("no pdf", f"[paper](https://arxiv.org/abs/2602.19919)\n{BLOCK}", "!pdf_attachment_missing"),
    ("nothing but the block", BLOCK, "!pdf_attachment_missing"),
    ("unsupported workflow", f"{PAPER}\n{START}\nworkflow: other-v2\n{END}", "!unsupported_workflow_marker"),
    ("several pdfs: markdown link first", f"{PAPER.replace('19919', '1')}\n[b](https://x.org/b.pdf)\n{BLOCK}",
     "https://x.org/b.pdf"),
    ("several pdfs: first bare one", f"https://x.org/a.pdf and https://x.org/b.pdf\n{BLOCK}", "https://x.org/a.pdf"),
    ("marker attachment_url wins", f"[b](https://x.org/b.pdf)\n{START}\nworkflow: whitepaper-analysis-v1\n"
     f"attachment_url: {PAPER}\n{END}", PAPER),
    ("upper-case .PDF and host", f"HTTPS://ArXiv.ORG/x/Paper.PDF#page=3\n{BLOCK}", "https://arxiv.org/x/Paper.PDF"),
    ("query kept, fragment dropped", f"https://github.com/user-attachments/files/1/p.pdf?raw=1#x\n{BLOCK}",
     "https://github.com/user-attachments/files/1/p.pdf?raw=1"),
    ("odd whitespace: CRLF, tabs, padded keys", f"{PAPER}\r\n{START}\r\n\t  WorkFlow \t:   "
     f"WHITEPAPER-ANALYSIS-V1  \r\n\u00a0base_branch:\tmain\u00a0\r\n{END}\r\n", PAPER),
    ("odd whitespace inside the markers", f"{PAPER}\n<!--TORGHUT_WHITEPAPER:START-->\nworkflow: "
     "whitepaper-analysis-v1\n<!--   TORGHUT_WHITEPAPER:END\n-->", PAPER),
    ("workflow key absent is allowed", f"{PAPER}\n{START}\nbase_branch: dev\n{END}", PAPER),
    ("no body at all", "", "!marker_missing"),
]


@pytest.mark.parametrize(("body", "expected"), [(b, e) for _, b, e in BODIES], ids=[c for c, _, _ in BODIES])
def test_issue_bodies(body: str, expected: str) -> None:
    decision = interpret(event(body), RULES)
    if expected.startswith("!"):
        assert isinstance(decision, Rejected)
        assert decision.reason == expected[1:]
    else:
        assert isinstance(decision, IssueIntake), decision
        assert decision.pdf_url == expected
        assert decision.run_id == expected_run_id(expected)


EVENTS: list[tuple[str, str, str, str | None, str]] = [
    # (case, event, action, comment, expected)
    ("issue opened", "issues", "opened", None, "run"),
    ("issue edited", "issues", "edited", None, "run"),
    ("issue reopened", "issues", "reopened", None, "run"),
    ("issue labeled", "issues", "labeled", None, "run"),
    ("issue closed", "issues", "closed", None, "!ignored_event"),
    ("issue deleted", "issues", "deleted", None, "!ignored_event"),
    ("comment with the keyword", "issue_comment", "created", "Please RESEARCH Whitepaper again", "requeue"),
    ("edited comment with the keyword", "issue_comment", "edited", "research whitepaper", "requeue"),
    ("comment without the keyword", "issue_comment", "created", "looks good", "!comment_without_requeue_keyword"),
    ("comment deleted", "issue_comment", "deleted", "research whitepaper", "!ignored_event"),
]


@pytest.mark.parametrize(("kind", "action", "comment", "expected"), [e[1:] for e in EVENTS],
                         ids=[e[0] for e in EVENTS])
def test_event_kinds_and_actions(kind: str, action: str, comment: str | None, expected: str) -> None:
    decision = interpret(event(f"{PAPER}\n{BLOCK}", kind=kind, action=action, comment=comment), RULES)
    if expected.startswith("!"):
        assert isinstance(decision, Rejected) and decision.reason == expected[1:]
    else:
        assert isinstance(decision, IssueIntake)
        assert decision.is_comment is (expected == "requeue")
        assert decision.run_id == expected_run_id(PAPER)


def test_the_marker_is_checked_before_the_comment_keyword() -> None:
    decision = interpret(event(PAPER, kind="issue_comment", comment="hello"), RULES)
    assert decision == Rejected("marker_missing")


def test_a_comment_on_a_pull_request_is_ignored() -> None:
    payload = comment_payload(REPO, 3589, f"{PAPER}\n{BLOCK}", "research whitepaper")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/x/y/pulls/1"}
    decision = interpret(event("", kind="issue_comment", payload=payload), RULES)
    assert isinstance(decision, Rejected) and decision.reason == "ignored_event"


def test_the_requeue_keyword_is_configurable() -> None:
    rules = IntakeRules(requeue_keyword="Again Please")
    assert isinstance(interpret(event(f"{PAPER}\n{BLOCK}", kind="issue_comment", comment="again please!"), rules),
                      IssueIntake)
    assert interpret(event(f"{PAPER}\n{BLOCK}", kind="issue_comment", comment="research whitepaper"),
                     rules) == Rejected("comment_without_requeue_keyword")


def test_the_marker_fields() -> None:
    body = (f"{START}\nworkflow: whitepaper-analysis-v1\nbase_branch: release\nhead_branch: codex/wp-x\n"
            "subject: Event-driven Alpha\ntags: LLM, event study,, RL-trading\nanalysis_mode: analysis-only\n"
            f"owner: me\n{END}")
    marker = parse_marker(body, START, END)
    assert marker is not None
    assert (marker.base_branch, marker.head_branch, marker.subject) == ("release", "codex/wp-x", "Event-driven Alpha")
    assert marker.tags == ("event_study", "llm", "rl_trading")
    assert marker.analysis_mode == "analysis_only"
    assert marker.extra == {"owner": "me"}


def test_the_run_id_matches_upstreams_formula() -> None:
    # sha256("proompteng/lab#3589|https://arxiv.org/pdf/2602.19919.pdf")[:24], computed by hand.
    assert ids.run_id(REPO, 3589, PAPER) == expected_run_id(PAPER)
    assert re.fullmatch(r"wp-[0-9a-f]{24}", ids.run_id(REPO, 3589, PAPER))
    assert ids.run_id(REPO, 3590, PAPER) != ids.run_id(REPO, 3589, PAPER)


def test_pdf_urls_keep_order_and_drop_duplicates() -> None:
    body = "[a](https://x.org/a.pdf) https://x.org/a.pdf, https://x.org/c.txt https://x.org/b.PDF."
    assert pdf_urls(body) == ["https://x.org/a.pdf", "https://x.org/b.PDF"]


@settings(deadline=None)
@given(st.text())
def test_any_body_is_read_without_error(body: str) -> None:
    decision = interpret(event(body), RULES)
    assert isinstance(decision, IssueIntake | Rejected)


@settings(deadline=None)
@given(st.from_regex(r"https?://[A-Za-z0-9.]{1,20}(:[0-9]{2,4})?/[A-Za-z0-9/._~-]{0,30}(\?[a-z=&0-9]{0,10})?"
                     r"(#[a-z0-9]{0,5})?", fullmatch=True))
def test_url_normalization_is_idempotent_and_fragment_free(url: str) -> None:
    once = normalize_url(url)
    assert normalize_url(once) == once
    assert "#" not in once

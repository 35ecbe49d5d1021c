"""The operator console over a demo session, in a real browser: the flow moves while the session plays,
a decision's chain is followed to its fill, and the kill switch turned on from the console stops the
next orders: the firewall's next verdicts carry ``kill_switch_enabled``, and the page shows them. Then
the research lane runs over the session and its run, with every failed gate, shows on the research page.

Screenshots of every page land in ``TORGHUT_CONSOLE_SHOTS`` when it is set (docs/console.md's come
from here), else in the test's temporary directory. With ``TORGHUT_CONSOLE_SHOTS`` set it also writes
research-lane.png: the research panel after a run promoted to paper and one denied at gate 1 are
published beside the demo's own.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from pydantic import BaseModel
from torghut_cli.demo.research import failed_gates, run_research_lane
from torghut_cli.demo.runner import load_session, replay_session
from torghut_cli.demo.stack import demo_stack
from torghut_contracts import topics
from torghut_contracts.enums import WhitepaperRunStatus
from torghut_contracts.examples import example
from torghut_contracts.headers import MessageHeaders
from torghut_runtime.testing import produce

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SPEED = 600.0  # the demo's own pace: the firewall judges each decision at the price of its moment


async def count(page: Any, stage: str) -> int:
    text = await page.locator(f'[data-stage="{stage}"] .count').inner_text()
    return int(text.replace(",", ""))


GATES = ("gate0_data_integrity", "gate1_statistical_robustness", "gate2_risk_capacity", "gate3_shadow_paper_quality",
         "gate4_operational_readiness", "gate5_live_ramp_readiness", "gate6_profitability_evidence",
         "gate7_uncertainty_calibration")


async def shoot_lane_runs(page: Any, bootstrap: str, path: Path) -> None:
    """research-lane.png (docs/console.md): a run promoted to paper, one denied at gate 1 (the contracts'
    example) and a failed whitepaper run, published to the demo's broker and shown on the open page."""
    denied = example(topics.LANE_RUNS.name)
    promoted = topics.LANE_RUNS.model.model_validate({
        **denied.model_dump(), "run_id": "fedcba9876543210fedcba98", "candidate_id": "cand-fedcba987654",
        "action": "promote", "recommended_mode": "paper", "reasons": [], "paper_patch": True,
        "gates": [{"gate_id": gate, "passed": True} for gate in GATES]})
    failed = example(topics.WHITEPAPER_RUNS.name).model_copy(update={
        "event_id": "evt-2", "status": WhitepaperRunStatus.FAILED, "reason": "pdf too large"})
    sent: list[tuple[Any, BaseModel]] = [(topics.LANE_RUNS, promoted), (topics.LANE_RUNS, denied),
                                         (topics.WHITEPAPER_RUNS, failed)]
    for spec, message in sent:
        await produce(bootstrap, spec.name, message, key=spec.key(message), headers=MessageHeaders.new(spec.name))
    for run in (promoted, denied):
        await expect(page.locator("tr.lane-run", has_text=run.candidate_id)).to_have_count(1, timeout=30_000)
    await expect(page.get_by_text("pdf too large")).to_be_visible(timeout=30_000)
    await page.locator("#research").screenshot(path=path)


async def test_the_console_follows_a_session_and_its_kill_switch_stops_the_next_orders(
        tmp_path: Path, browser: Any) -> None:
    shots = Path(os.environ.get("TORGHUT_CONSOLE_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    session = load_session()
    first, second = session[: len(session) // 2], session[len(session) // 2:][:400]
    async with demo_stack(tmp_path / "demo") as demo:
        url = demo.console.url
        context = await browser.new_context(viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        await page.goto(url + "/")
        signals = page.locator('[data-stage="signals"] .count')
        await expect(signals).to_have_text("0")

        playing = asyncio.create_task(replay_session(demo.bootstrap, SPEED, session=first))
        await expect(signals).not_to_have_text("0", timeout=30_000)
        assert not playing.done(), "the count moved while the session was still playing"
        await playing
        await expect(signals).to_have_text(f"{len(first):,}", timeout=60_000)
        await expect(page.locator('[data-stage="fills"] .count')).not_to_have_text("0", timeout=60_000)
        await expect(page.locator("#status")).to_contain_text("broker up", timeout=20_000)
        lag = page.locator("table.services tr", has_text="risk-firewall").locator("td.num")
        await expect(lag).to_have_text(re.compile(r"^\d[\d,]*$"), timeout=20_000)
        await page.screenshot(path=shots / "pipeline.png", full_page=True)

        await page.goto(url + "/decisions")
        await page.screenshot(path=shots / "decisions.png", full_page=True)
        approved = page.locator("tr.verdict-approve a")
        await expect(approved.first).to_be_visible()
        await approved.first.click()
        await expect(page.locator(".chain .hop .stage")).to_contain_text(
            ["signals", "triggers", "decisions", "verdicts", "orders", "fills"], timeout=20_000)
        await page.screenshot(path=shots / "chain.png", full_page=True)

        await page.goto(url + "/account")
        await expect(page.locator(".pnl-chart canvas").first).to_be_visible(timeout=20_000)
        await page.screenshot(path=shots / "account.png", full_page=True)

        await page.goto(url + "/control")
        refused = await page.request.post(url + "/control", form={"kill_switch": "on"})
        assert refused.status == 401
        await page.goto(url + "/login")
        await page.screenshot(path=shots / "login.png")
        await page.get_by_label("Your name").fill("ana")
        await page.get_by_label("Password").fill(demo.console_password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(url + "/control")
        await page.get_by_label("Reason").fill("end-to-end drill")
        await page.get_by_role("button", name="Kill switch ON").click()
        posture = page.locator("table.posture tbody tr").first
        await expect(posture).to_contain_text("console:ana", timeout=20_000)
        await page.screenshot(path=shots / "control.png", full_page=True)

        await replay_session(demo.bootstrap, SPEED, session=second)
        await page.goto(url + "/decisions")
        stopped = page.locator("tr.verdict-veto td.codes", has_text="kill_switch_enabled")
        await expect(stopped.first).to_be_visible(timeout=60_000)

        # The research half: the lane over the session, published to the demo's broker, on the research page.
        lane = await run_research_lane(tmp_path / "lane", demo.bootstrap)
        assert lane is not None and lane["published"] == "torghut.research.lane-runs.v1"
        await page.goto(url + "/research")
        shown = page.locator("tr.lane-run", has_text=lane["candidate_id"])
        await expect(shown).to_have_count(1, timeout=30_000)
        await expect(shown).to_contain_text(lane["action"])
        for gate in failed_gates(lane):
            await expect(shown).to_contain_text(f"{gate}: fail")
        await page.screenshot(path=shots / "research.png", full_page=True)
        if os.environ.get("TORGHUT_CONSOLE_SHOTS"):
            await shoot_lane_runs(page, demo.bootstrap, shots / "research-lane.png")
        await context.close()

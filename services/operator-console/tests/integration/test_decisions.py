"""The decisions page shows what a decision carries that explains it, each in its place: the engine's
rationale (its uncertainty notes), its risk flags and its own reason codes, beside the firewall's verdict."""

from __future__ import annotations

import re

from torghut_contracts import topics
from torghut_contracts.examples import example
from torghut_runtime.testing import eventually

from .conftest import ConsoleFactory


def cell(row: str, css_class: str) -> str:
    """The text of the row's cell, or span, of that class (tags inside it stripped)."""
    match = re.search(rf'<(td|span) class="{css_class}">(.*?)</\1>', row, re.S)
    assert match, f"no {css_class} in {row}"
    return re.sub(r"<[^>]+>", "", match.group(2)).strip()


async def test_a_decision_shows_its_rationale_risk_flags_and_reason_codes_each_in_its_place(
        console: ConsoleFactory) -> None:
    decision = topics.DECISIONS.model.model_validate({
        **example(topics.DECISIONS.name).model_dump(),
        "uncertainty_notes": ["spread wider than its 20-day median", "earnings in two days"],
        "risk_flags": ["wide_spread", "event_window"], "reason_codes": ["momentum_fading"]})
    async with console() as running, running.client() as client:
        await running.send(topics.DECISIONS, decision, correlation_id="explained-1")
        await running.send(topics.RISK_VERDICTS, example(topics.RISK_VERDICTS.name), correlation_id="explained-1")

        async def both() -> bool:
            text = (await client.get("/decisions")).text
            return "decision-engine / deterministic" in text and "kill_switch_enabled" in text
        await eventually(both, what="the decision and its verdict on the decisions page")
        for path in ("/decisions", "/decisions?symbol=NVDA"):  # the live panel and a filtered view
            page = (await client.get(path)).text
            row = re.search(r'<tr class="verdict-veto">(.*?)</tr>', page, re.S)
            assert row, page
            rationale = cell(row.group(1), "rationale")
            assert rationale.startswith("spread wider than its 20-day median; earnings in two days"), rationale
            assert cell(row.group(1), "flags") == "risk flags: wide_spread, event_window"
            assert cell(row.group(1), "codes") == "momentum_fading"  # the decision's own, in its cell
            verdict_codes = re.findall(r'<td class="codes">([^<]*)</td>', row.group(1))
            assert verdict_codes == ["kill_switch_enabled"]  # the firewall's, in the verdict's column
            assert "momentum_fading" not in verdict_codes[0] and "kill_switch_enabled" not in rationale

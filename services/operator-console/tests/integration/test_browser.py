"""The console in a real browser (Debian's Chromium under Playwright): it loads, updates itself while
messages arrive, follows a chain, and refuses or takes a control action by who is logged in."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from playwright.async_api import expect
from torghut_contracts import topics
from torghut_contracts.enums import VerdictOutcome
from torghut_contracts.examples import example
from torghut_runtime.testing import read_records

from .conftest import OPERATOR_PASSWORD, ConsoleFactory, RunningConsole

pytestmark = pytest.mark.browser


async def send_chain(running: RunningConsole, correlation_id: str) -> None:
    signal = await running.send(topics.TA_SIGNALS, example(topics.TA_SIGNALS.name))
    trigger = await running.send(topics.TRIGGERS, example(topics.TRIGGERS.name), cause=signal,
                                 correlation_id=correlation_id)
    decision = await running.send(topics.DECISIONS, example(topics.DECISIONS.name), cause=trigger)
    verdict = topics.RISK_VERDICTS.model.model_validate({
        **example(topics.RISK_VERDICTS.name).model_dump(), "outcome": VerdictOutcome.APPROVE, "reason_codes": [],
        "approved_qty": Decimal(10), "client_order_id": example(topics.ORDERS_APPROVED.name).client_order_id})
    approved = await running.send(topics.RISK_VERDICTS, verdict, cause=decision)
    order = await running.send(topics.ORDERS_APPROVED, example(topics.ORDERS_APPROVED.name), cause=approved)
    await running.send(topics.TRADE_UPDATES, example(topics.TRADE_UPDATES.name), cause=order)


async def test_the_flow_updates_in_place_while_signals_arrive(console: ConsoleFactory, browser: Any) -> None:
    async with console() as running:
        page = await browser.new_page()
        await page.goto(running.url + "/")
        signals = page.locator('[data-stage="signals"] .count')
        await expect(signals).to_have_text("0")
        await page.evaluate("window.loadedOnce = true")
        base = example(topics.TA_SIGNALS.name)
        for seq in range(1, 21):
            await running.send(topics.TA_SIGNALS, base.model_copy(update={"seq": seq}))
        await expect(signals).to_have_text("20", timeout=20_000)
        assert await page.evaluate("window.loadedOnce") is True, "the page was reloaded"
        await expect(page.locator("#status")).to_contain_text("read model up")
        await page.close()


async def test_following_a_decision_shows_every_hop_of_its_chain(console: ConsoleFactory, browser: Any) -> None:
    async with console() as running:
        await send_chain(running, "chain-browser-1")
        page = await browser.new_page()
        await page.goto(running.url + "/decisions")
        follow = page.get_by_role("link", name="Follow the chain of NVDA decision")
        await expect(follow).to_have_count(1, timeout=20_000)
        await expect(page.locator("tr.verdict-approve")).to_have_count(1, timeout=20_000)
        await follow.click()
        await expect(page).to_have_url(running.url + "/chain/chain-browser-1")
        stages = page.locator(".chain .hop .stage")
        hops = ["signals", "triggers", "decisions", "verdicts", "orders", "fills"]
        await expect(stages).to_have_text(hops, timeout=20_000)
        await page.evaluate("window.loadedOnce = true")

        # The chain is still in flight: the rest of the order's fills join the open page.
        last = example(topics.TRADE_UPDATES.name)
        await running.send(topics.TRADE_UPDATES, last.model_copy(update={"fingerprint": "f" * 64}),
                           correlation_id="chain-browser-1")
        await expect(stages).to_have_text([*hops, "fills"], timeout=20_000)
        assert await page.evaluate("window.loadedOnce") is True, "the page was reloaded"
        await page.close()


async def test_a_control_action_needs_an_operator_login_and_then_shows_live(console: ConsoleFactory,
                                                                           browser: Any) -> None:
    async with console() as running:
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(running.url + "/control")
        await expect(page.get_by_text("log in as an operator")).to_be_visible()
        await expect(page.get_by_role("button", name="Kill switch ON")).to_have_count(0)
        refused = await page.request.post(running.url + "/control", form={"kill_switch": "on"})
        assert refused.status == 401
        assert await read_records(running.bootstrap, running.prefix + topics.CONTROL.name, expect=0,
                                  timeout=2, settle=0.5) == []

        await page.get_by_role("link", name="Log in", exact=True).click()
        await page.get_by_label("Your name").fill("ana")
        await page.get_by_label("Password").fill(OPERATOR_PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(running.url + "/control")
        await page.get_by_label("Reason").fill("browser drill")
        await page.get_by_role("button", name="Kill switch ON").click()
        await expect(page.get_by_role("status")).to_contain_text("published: global kill switch ON")
        posture = page.locator("table.posture tbody tr").first
        await expect(posture).to_contain_text("console:ana", timeout=20_000)
        await expect(posture).to_contain_text("ON")
        (record,) = await read_records(running.bootstrap, running.prefix + topics.CONTROL.name, expect=1, timeout=5)
        assert topics.CONTROL.decode(record.value).reason == "browser drill"
        await context.close()


async def test_the_skip_link_comes_first_and_a_decisions_chain_is_followed_by_keyboard(
        console: ConsoleFactory, browser: Any) -> None:
    async with console() as running:
        await send_chain(running, "chain-keys-1")
        page = await browser.new_page()
        await page.goto(running.url + "/decisions")
        await expect(page.locator("tr.verdict-approve")).to_have_count(1, timeout=20_000)

        await page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to content")
        await expect(skip).to_be_focused()
        await expect(skip).to_be_in_viewport()  # off-screen until focused, then shown
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(running.url + "/decisions#main")
        await page.keyboard.press("Tab")  # the next stop is inside main, past the header's links
        await expect(page.get_by_label("Symbol")).to_be_focused()

        follow = page.get_by_role("link", name="Follow the chain of NVDA decision")
        for _ in range(30):  # the filter form's fields, then the table's links
            if await follow.evaluate("link => link === document.activeElement"):
                break
            await page.keyboard.press("Tab")
        await expect(follow).to_be_focused()
        # A live push of the panel (a newer decision on top) leaves the focus where the operator put it.
        newer = topics.DECISIONS.model.model_validate({**example(topics.DECISIONS.name).model_dump(),
                                                       "decision_id": "dec-newer-1", "symbol": "AAPL"})
        await running.send(topics.DECISIONS, newer, correlation_id="chain-keys-2")
        await expect(page.get_by_role("link", name="Follow the chain of AAPL decision")).to_have_count(
            1, timeout=20_000)
        await expect(follow).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(running.url + "/chain/chain-keys-1")
        await expect(page.locator(".chain .hop .stage")).to_have_text(
            ["signals", "triggers", "decisions", "verdicts", "orders", "fills"], timeout=20_000)
        await page.close()


async def test_a_live_push_of_the_account_page_leaves_the_focus_on_the_blotters_link(
        console: ConsoleFactory, browser: Any) -> None:
    async with console() as running:
        await send_chain(running, "chain-blotter-1")
        page = await browser.new_page()
        await page.goto(running.url + "/account")
        first = example(topics.TRADE_UPDATES.name)
        link = page.locator("table.blotter").get_by_role("link", name=first.order.client_order_id)
        await expect(link).to_have_count(1, timeout=20_000)
        await link.focus()
        other = first.model_copy(update={"fingerprint": "e" * 64, "order": first.order.model_copy(
            update={"client_order_id": "other-order-1"})})
        await running.send(topics.TRADE_UPDATES, other, correlation_id="chain-blotter-2")
        await expect(page.locator("table.blotter").get_by_role("link", name="other-order-1")).to_have_count(
            1, timeout=20_000)
        await expect(link).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(running.url + "/chain/chain-blotter-1")
        await page.close()

"""The console over real HTTP, fed by the real broker, its read model in real Postgres."""

from __future__ import annotations

from datetime import timedelta

from torghut_contracts import topics
from torghut_contracts.enums import WhitepaperRunStatus
from torghut_contracts.examples import example
from torghut_runtime.testing import eventually

from .conftest import ConsoleFactory


async def test_a_chain_sent_through_the_topics_shows_on_every_page(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        signal = await running.send(topics.TA_SIGNALS, example(topics.TA_SIGNALS.name))
        trigger = await running.send(topics.TRIGGERS, example(topics.TRIGGERS.name), cause=signal,
                                     correlation_id="chain-1")
        decision = await running.send(topics.DECISIONS, example(topics.DECISIONS.name), cause=trigger)
        verdict = await running.send(topics.RISK_VERDICTS, example(topics.RISK_VERDICTS.name), cause=decision)
        await running.send(topics.TRADE_UPDATES, example(topics.TRADE_UPDATES.name), cause=verdict)

        async def page(path: str) -> str:
            response = await client.get(path)
            assert response.status_code == 200, response.text
            return response.text

        async def all_read() -> bool:  # signals come on a consumer of their own, which batches them
            return "160.27" in await page("/account") and ">signals<" in await page("/chain/chain-1")
        await eventually(all_read, what="the fill on the account page and the signal in the chain")
        text = await page("/")
        assert "kill_switch_enabled" in text and "veto" in text
        chain = await page("/chain/chain-1")
        for stage in ("signals", "triggers", "decisions", "verdicts", "fills"):
            assert f">{stage}<" in chain, stage
        assert chain.index(">signals<") < chain.index(">triggers<") < chain.index(">fills<")
        assert "NVDA" in await page("/account")


async def test_whitepaper_runs_show_by_issue_with_their_latest_status(console: ConsoleFactory) -> None:
    received = example(topics.WHITEPAPER_RUNS.name)
    failed = received.model_copy(update={
        "event_id": "evt-2", "status": WhitepaperRunStatus.FAILED, "reason": "pdf too large",
        "occurred_at": received.occurred_at + timedelta(seconds=5)})
    async with console() as running, running.client() as client:
        await running.send(topics.WHITEPAPER_RUNS, failed)
        await running.send(topics.WHITEPAPER_RUNS, received)  # older, arriving later: does not win

        async def shown() -> bool:
            return "proompteng/lab#12" in (await client.get("/research")).text
        await eventually(shown, what="the run on the research page")
        text = (await client.get("/research")).text
        assert "pdf too large" in text and ">failed<" in text and ">received<" not in text


async def test_a_research_lane_run_shows_its_decision_and_every_gate(console: ConsoleFactory) -> None:
    run = example(topics.LANE_RUNS.name)
    async with console() as running, running.client() as client:
        await running.send(topics.LANE_RUNS, run)
        await running.send(topics.LANE_RUNS, run)  # the same run published again: one row

        async def shown() -> bool:
            return run.candidate_id in (await client.get("/research")).text
        await eventually(shown, what="the lane run on the research page")
        text = (await client.get("/research")).text
        assert text.count(run.candidate_id) == 1
        assert "paper → shadow" in text and ">deny<" in text
        assert "gate0_data_integrity: pass" in text
        assert "gate1_statistical_robustness: fail (deflated_sharpe_below_threshold)" in text


async def test_a_verdict_read_before_its_decision_keeps_its_outcome(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        await running.send(topics.RISK_VERDICTS, example(topics.RISK_VERDICTS.name), correlation_id="late-1")

        async def pending_decision() -> bool:
            return "kill_switch_enabled" in (await client.get("/decisions")).text
        await eventually(pending_decision, what="the verdict on the decisions page")
        await running.send(topics.DECISIONS, example(topics.DECISIONS.name), correlation_id="late-1")

        async def both() -> bool:
            return "decision-engine / deterministic" in (await client.get("/decisions")).text
        await eventually(both, what="the decision beside its verdict")
        row = (await client.get("/decisions?outcome=veto")).text
        assert "kill_switch_enabled" in row and "decision-engine / deterministic" in row


async def test_a_verdict_read_after_its_decision_keeps_the_decision(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        await running.send(topics.DECISIONS, example(topics.DECISIONS.name), correlation_id="early-1")

        async def decision_shown() -> bool:
            return "decision-engine / deterministic" in (await client.get("/decisions")).text
        await eventually(decision_shown, what="the decision on the decisions page")
        await running.send(topics.RISK_VERDICTS, example(topics.RISK_VERDICTS.name), correlation_id="early-1")

        async def verdict_shown() -> bool:
            return "kill_switch_enabled" in (await client.get("/decisions")).text
        await eventually(verdict_shown, what="the verdict beside its decision")
        assert "decision-engine / deterministic" in (await client.get("/decisions")).text

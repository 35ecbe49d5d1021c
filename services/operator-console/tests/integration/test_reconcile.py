"""The account page reconciles the positions folded from fills against the venue's snapshot."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from torghut_contracts import topics
from torghut_contracts.examples import example
from torghut_contracts.models import Position
from torghut_runtime.testing import eventually

from .conftest import ConsoleFactory


async def test_positions_agreeing_with_the_venue_say_so_and_a_difference_is_named(console: ConsoleFactory) -> None:
    fill, snapshot = example(topics.TRADE_UPDATES.name), example(topics.ACCOUNT_SNAPSHOTS.name)
    async with console() as running, running.client() as client:
        await running.send(topics.TRADE_UPDATES, fill)
        await running.send(topics.ACCOUNT_SNAPSHOTS, snapshot)  # NVDA 10, as the fill left it

        async def page_says(text: str) -> bool:
            return text in (await client.get("/account")).text
        await eventually(lambda: page_says("Positions agree with the venue"), what="the agreement on the page")

        later = snapshot.model_copy(update={
            "snapshot_id": "snap-2", "as_of": snapshot.as_of + timedelta(minutes=1),
            "positions": [Position(symbol="SPY", qty=Decimal(5), market_value=Decimal("2967.70"))]})
        await running.send(topics.ACCOUNT_SNAPSHOTS, later)
        await eventually(lambda: page_says("Positions differ from the venue"), what="the difference on the page")
        text = (await client.get("/account")).text
        assert "NVDA: 10 from fills, 0 at the venue" in text
        assert "SPY: 0 from fills, 5 at the venue" in text

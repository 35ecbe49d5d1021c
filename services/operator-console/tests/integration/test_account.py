"""The account page's figures, from fills, the latest signal's mark and the venue's snapshot: each with
its own value (a buy of 10 at 160.27, a sell of 4 at 161.00, NVDA marked at 160.25)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal

from torghut_contracts import topics
from torghut_contracts.enums import Side
from torghut_contracts.examples import example
from torghut_contracts.models import TradeUpdate
from torghut_contracts.models.execution import derived_execution_id, derived_order_id
from torghut_runtime.testing import eventually

from .conftest import ConsoleFactory

SELL_ORDER = "th-fedcba9876543210fedcba98765432"


def sell_fill() -> TradeUpdate:
    """The example's account selling 4 of its 10 NVDA at 161.00, a minute after buying them."""
    buy = example(topics.TRADE_UPDATES.name)
    fingerprint, price, qty = "1" * 64, Decimal("161.00"), Decimal("4")
    order = {**buy.order.model_dump(), "client_order_id": SELL_ORDER, "id": derived_order_id(SELL_ORDER),
             "venue_order_id": "paper-sell-1", "side": Side.SELL, "qty": qty, "filled_qty": qty,
             "filled_avg_price": price}
    return TradeUpdate.model_validate({
        **buy.model_dump(), "fingerprint": fingerprint, "execution_id": derived_execution_id(fingerprint),
        "timestamp": buy.timestamp + timedelta(minutes=1), "order": order, "fill_qty": qty, "fill_price": price,
        "qty": qty, "price": price, "position_qty": Decimal("6")})


def figures(page: str) -> dict[str, str]:
    """The account panel's figures: each <dt> label and the text of its <dd>."""
    found = re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", page, re.S)
    return {html.unescape(label): value.strip() for label, value in found}


async def test_the_account_page_shows_exposure_buying_power_and_total_pnl_with_their_values(
        console: ConsoleFactory) -> None:
    buy = example(topics.TRADE_UPDATES.name)
    snapshot = topics.ACCOUNT_SNAPSHOTS.model.model_validate({
        **example(topics.ACCOUNT_SNAPSHOTS.name).model_dump(), "as_of": buy.timestamp + timedelta(minutes=2),
        "equity": Decimal("100002.80"), "cash": Decimal("99038.50"), "buying_power": Decimal("12345.67"),
        "positions": [{"symbol": "NVDA", "qty": Decimal("6"), "avg_entry_price": Decimal("160.27"),
                       "market_value": Decimal("961.50")}]})
    async with console() as running, running.client() as client:
        await running.send(topics.TRADE_UPDATES, buy)
        await running.send(topics.TRADE_UPDATES, sell_fill())
        await running.send(topics.TA_SIGNALS, example(topics.TA_SIGNALS.name))  # marks NVDA at 160.25
        await running.send(topics.ACCOUNT_SNAPSHOTS, snapshot)

        async def all_read() -> bool:
            page = (await client.get("/account")).text
            return SELL_ORDER in page and "<td class=\"num\">160.25</td>" in page and "buying power" in page
        await eventually(all_read, what="both fills, the mark and the snapshot on the account page")
        shown = figures((await client.get("/account")).text)
        # realised 4 x (161.00 - 160.27) = 2.92; 6 left at 160.27, marked at 160.25: unrealised -0.12
        assert (shown["realized"], shown["unrealized"], shown["P&L total"]) == ("2.92", "-0.12", "2.80")
        assert shown["exposure"] == "961.50"  # 6 x 160.25, at the mark (not the 961.62 they cost)
        assert shown["buying power"] == "12,345.67"  # the snapshot's, not its cash or equity
        assert (shown["cash"], shown["equity (paper)"]) == ("99,038.50", "100,002.80")

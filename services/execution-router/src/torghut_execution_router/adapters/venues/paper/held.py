"""A group commit's paper orders placed against the account as the consumer's transaction holds it.

The runtime hands a burst of approved orders to the intake in one transaction (group commit). The
first paper order locks the paper account and reads its positions and open orders; the rest are
placed against the account as the group's earlier orders left it, in memory, and every change
(the account row, the positions, the orders, the fills) is written once, when the intake's
``flush`` runs at the group's end, inside its transaction. The quotes of the group's symbols are
read with the book, once: prices are written only under the same account lock
(``PaperVenue.on_prices``), so none can change while the group holds it. A rollback discards the
book, so memory is never ahead of the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from ....domain import paper


@dataclass
class HeldBook:
    conn: AsyncConnection
    """The transaction holding the account lock: the book is only good inside it."""
    before: paper.PaperAccount
    """The account as locked, to write only the positions that moved."""
    account: paper.PaperAccount
    """The account as the group's orders left it."""
    open_orders: dict[str, paper.PaperOrder]
    named: dict[str, paper.PaperOrder | None]
    """The venue's own dedupe, read with the book for the orders the group was expected to place."""
    quotes: dict[str, paper.Quote | None] = field(default_factory=dict)
    """Read with the book for the group's symbols; a symbol it did not expect is read when it comes."""
    orders: dict[str, paper.PaperOrder] = field(default_factory=dict)
    """The orders the group touched, to write, by client order id."""
    fills: list[paper.PaperFill] = field(default_factory=list)

    def take(self, step: paper.PaperStep) -> None:
        """Apply what placing one order did."""
        self.account = step.account
        for order in step.orders:
            self.orders[order.client_order_id] = order
            if order.is_open:
                self.open_orders[order.client_order_id] = order
            else:
                self.open_orders.pop(order.client_order_id, None)
        self.fills.extend(step.fills)

    def changes(self) -> paper.PaperStep:
        """Everything the group changed, as one step to persist."""
        return paper.PaperStep(account=self.account, orders=list(self.orders.values()), fills=list(self.fills))

"""Several accounts in one group commit: their rows locked first, in account order.

A firewall may own several accounts (``TORGHUT_ACCOUNTS``), and a group commit's records (decisions,
trade updates, snapshots: each subscriber commits groups of its own) may belong to several of them,
in any order. Locking each account as its first record comes would let one group lock A then B while
another locks B then A: a deadlock, which Postgres ends by aborting one of them. A group holding
several managed accounts locks them all before its first record instead, in one order
(:func:`.store.lock_accounts_in_order`); a group of one account locks it as its record comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_runtime import Inbound, Outgoing
from torghut_runtime.kafka import Handler

from . import store

M = TypeVar("M", bound=BaseModel)


class ManagedAccounts(Protocol):
    def manages(self, account: str) -> bool: ...


async def lock_group_accounts(conn: AsyncConnection, firewall: ManagedAccounts, accounts: Iterable[str]) -> None:
    """Lock the managed ones of ``accounts`` now, in account order, when there are several."""
    managed = {account for account in accounts if firewall.manages(account)}
    if len(managed) > 1:
        await store.lock_accounts_in_order(conn, managed)


class AccountsLockedFirst(Generic[M]):
    """A group-commit handler whose group's managed accounts are locked before its first record.

    The runtime calls :meth:`prepare` once per transaction with the records it will hand over.
    """

    def __init__(self, firewall: ManagedAccounts, apply: Handler[M], account_of: Callable[[M], str]) -> None:
        self.firewall, self.apply, self.account_of = firewall, apply, account_of

    async def prepare(self, conn: AsyncConnection, inbounds: Sequence[Inbound[M]]) -> None:
        await lock_group_accounts(conn, self.firewall, (self.account_of(inbound.payload) for inbound in inbounds))

    async def __call__(self, inbound: Inbound[M], conn: AsyncConnection) -> Sequence[Outgoing]:
        return await self.apply(inbound, conn)

"""Group commit for work finished outside a transaction: many outcomes recorded in one.

A worker that makes slow calls with no connection held (claim -> call -> record) finishes them one
by one. Recording each in a transaction of its own costs a BEGIN, a COMMIT and the statements per
outcome; :class:`GroupRecorder` records them together instead. Each task hands its outcome to
:meth:`GroupRecorder.record` and waits. Whichever task finds the recorder free takes every outcome
queued by then and records them with one call of the service's ``record_group`` (one transaction,
a few statements). Under load the groups grow by themselves, because calls finish while a group is
being recorded; a lone outcome is recorded at once.

A group that fails is recorded again one outcome at a time, so an outcome that cannot be recorded
fails only its own task (which retries, or gives up on it), not its neighbours'. ``record_group``
must therefore be safe to run again for outcomes a failed group held: it is, when it writes in
one transaction that rolled back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupAbandoned(RuntimeError):
    """The task recording a group was cancelled (a stop) before the group was recorded."""


@dataclass
class _Queued(Generic[T, R]):
    item: T
    done: asyncio.Future[R] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupRecorder(Generic[T, R]):
    def __init__(self, record_group: Callable[[list[T]], Awaitable[Sequence[R]]]) -> None:
        """``record_group``: records the outcomes given, in one transaction; a result for each, in order."""
        self._record_group = record_group
        self._queued: list[_Queued[T, R]] = []
        self._recording = asyncio.Lock()

    async def record(self, item: T) -> R:
        """Record ``item`` with whatever else is queued; its result. Raises if it was not recorded."""
        queued: _Queued[T, R] = _Queued(item)
        self._queued.append(queued)
        async with self._recording:
            if not queued.done.done():
                group, self._queued = self._queued, []
                await self._record(group)
        return await queued.done

    async def _record(self, group: list[_Queued[T, R]]) -> None:
        try:
            results = await self._record_group([queued.item for queued in group])
        except asyncio.CancelledError:
            for queued in group:
                if not queued.done.done():
                    queued.done.set_exception(GroupAbandoned("recording was cut short by a stop"))
            raise
        except Exception as exc:
            if len(group) == 1:
                group[0].done.set_exception(exc)
                return
            for queued in group:  # each on its own: one that cannot be recorded fails alone
                try:
                    (result,) = await self._record_group([queued.item])
                except Exception as single:
                    queued.done.set_exception(single)
                else:
                    queued.done.set_result(result)
            return
        for queued, result in zip(group, results, strict=True):
            queued.done.set_result(result)

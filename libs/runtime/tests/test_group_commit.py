"""GroupRecorder: outcomes finished together are recorded together; one that cannot be recorded fails alone."""

from __future__ import annotations

import asyncio

import pytest
from torghut_runtime.group_commit import GroupAbandoned, GroupRecorder


class Book:
    """A record_group that remembers its groups; an item named "poison" fails any group holding it."""

    def __init__(self, first_waits: asyncio.Event | None = None) -> None:
        self.groups: list[list[str]] = []
        self.first_waits = first_waits
        self.group_started = asyncio.Event()

    async def record_group(self, items: list[str]) -> list[str]:
        self.groups.append(list(items))
        self.group_started.set()
        if self.first_waits is not None and len(self.groups) == 1:
            await self.first_waits.wait()
        if "poison" in items:
            raise ValueError("poison cannot be recorded")
        return [item.upper() for item in items]


async def test_outcomes_finished_while_a_group_is_recorded_form_the_next_group() -> None:
    release = asyncio.Event()
    book = Book(first_waits=release)
    recorder: GroupRecorder[str, str] = GroupRecorder(book.record_group)
    first = asyncio.create_task(recorder.record("a"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(recorder.record(name)) for name in ("b", "c", "d")]
    await asyncio.sleep(0)
    release.set()
    assert await first == "A" and [await task for task in rest] == ["B", "C", "D"]
    assert book.groups == [["a"], ["b", "c", "d"]], "a lone outcome at once, the ones queued meanwhile together"


async def test_an_outcome_that_cannot_be_recorded_fails_alone() -> None:
    release = asyncio.Event()
    book = Book(first_waits=release)
    recorder: GroupRecorder[str, str] = GroupRecorder(book.record_group)
    first = asyncio.create_task(recorder.record("a"))
    await asyncio.sleep(0)
    tasks = {name: asyncio.create_task(recorder.record(name)) for name in ("b", "poison", "c")}
    await asyncio.sleep(0)
    release.set()
    assert await first == "A"
    assert await tasks["b"] == "B" and await tasks["c"] == "C"
    with pytest.raises(ValueError, match="poison"):
        await tasks["poison"]
    assert book.groups[1:] == [["b", "poison", "c"], ["b"], ["poison"], ["c"]], "the group, then one at a time"


async def test_a_stop_while_a_group_is_recorded_fails_its_other_waiters_with_group_abandoned() -> None:
    release = asyncio.Event()
    book = Book(first_waits=release)
    recorder: GroupRecorder[str, str] = GroupRecorder(book.record_group)
    first = asyncio.create_task(recorder.record("a"))
    await asyncio.sleep(0)
    x, y = asyncio.create_task(recorder.record("x")), asyncio.create_task(recorder.record("y"))
    await asyncio.sleep(0)
    stuck = asyncio.Event()  # the next group's recording never ends: the service stops during it
    book.first_waits, book.groups = stuck, []
    book.group_started.clear()
    release.set()
    assert await first == "A"
    await book.group_started.wait()
    assert book.groups == [["x", "y"]]
    x.cancel()  # the task recording the group is cut short
    with pytest.raises(asyncio.CancelledError):
        await x
    with pytest.raises(GroupAbandoned):
        await y

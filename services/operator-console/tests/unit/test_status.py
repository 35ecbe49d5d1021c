"""The status bar says when the broker does not answer, and the pipeline shows no lag then."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from torghut_operator_console.adapters.watch import ServiceWatch
from torghut_operator_console.panels import Panel, PanelRenderer, environment
from torghut_runtime.testing import eventually


async def test_a_broker_that_refuses_connections_is_shown_unreachable() -> None:
    changes: list[int] = []
    watch = ServiceWatch({"risk-firewall": "http://127.0.0.1:9"}, "127.0.0.1:9", "", 0.05,
                         on_change=lambda: changes.append(1))
    renderer = PanelRenderer(engine=Any, watch=watch, env=environment())  # type: ignore[arg-type]
    assert "broker not checked yet" in await renderer.render(Panel.STATUS)
    task = asyncio.create_task(watch.run())
    try:
        await eventually(lambda: watch.broker_up is False and changes, what="a round of polls", timeout=30)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await watch.close()
    (state,) = watch.services()
    assert state.lag is None and state.ready is False and "unreachable" in state.detail
    status = await renderer.render(Panel.STATUS)
    assert "broker unreachable" in status and "read model up" in status
    renderer.database_up = False
    assert "read model unreachable" in await renderer.render(Panel.STATUS)

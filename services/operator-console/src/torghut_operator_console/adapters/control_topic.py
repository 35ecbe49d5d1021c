"""A scope's latest control command, read from ``torghut.control.v1`` itself when an operator acts.

Every command states the whole posture of its scope (kill switch and trading state), and the
compacted topic keeps the latest. A change from the console keeps the field it does not touch as
that latest command has it. The read model may not have read a command the CLI or another
replica published a moment ago, and a change built on it would silently undo that command's other
field. So the change is built on the topic's own last word, read to its high watermark, as the
CLI builds its own.
"""

from __future__ import annotations

from pydantic import ValidationError
from torghut_contracts import topics
from torghut_contracts.models import ControlCommand
from torghut_runtime.topic_window import Window, read_window

READ_TIMEOUT_S = 5.0


async def latest_command(bootstrap: str, topic: str, scope: str) -> ControlCommand | None:
    """The last command for ``scope`` on the topic, or None when it has none.

    Raises :class:`torghut_runtime.topic_window.WindowReadError` when the topic cannot be read: the
    caller then publishes nothing rather than a change built on a guess.
    """
    latest: ControlCommand | None = None
    async for record in read_window(bootstrap, topic, Window(key=scope), connect_timeout_s=READ_TIMEOUT_S,
                                    stall_timeout_s=READ_TIMEOUT_S):
        try:
            command = topics.CONTROL.decode(record.value)
        except ValidationError:
            continue  # not a command: the consumers dead-letter it, and it changes no posture
        if command.scope == scope:
            latest = command
    return latest

"""What a handler wants done only once its transaction has committed: above all, its counting.

A handler's transaction can roll back after the handler returned: the claim of a ``claim_last``
or batch handler finds the record processed before, a later record of the batch fails, the
COMMIT itself fails. The handler then runs again, so a counter it increments in place counts the
same verdict twice, or counts one that never happened. A handler registers such effects with
:func:`after_commit` instead; the runtime runs them after the commit and forgets them on a
rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType

import structlog

log = structlog.get_logger("torghut.kafka")

_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar("torghut_after_commit", default=None)


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current handler's transaction has committed, never if it rolls back.

    Outside a handler (a unit test calling one directly, an HTTP route) it runs at once.
    """
    pending = _pending.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


class CommitHooks:
    """The callbacks registered while this is entered; :meth:`run` them once the transaction committed."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []
        self._token: Token[list[Callable[[], None]] | None] | None = None

    def __enter__(self) -> CommitHooks:
        self._token = _pending.set(self._callbacks)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        assert self._token is not None
        _pending.reset(self._token)

    def mark(self) -> int:
        return len(self._callbacks)

    def forget_since(self, mark: int) -> None:
        """A savepoint rolled back: what was registered after ``mark`` did not happen."""
        del self._callbacks[mark:]

    def run(self) -> None:
        callbacks, self._callbacks[:] = list(self._callbacks), []
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:  # a metric must not fail a committed record
                log.error("after-commit callback failed", error=repr(exc))

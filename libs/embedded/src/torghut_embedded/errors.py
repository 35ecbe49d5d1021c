"""Errors raised by the embedded launcher.

A server that cannot start must fail loudly and show *why*: the error carries the tail of the
server's own log, so a failing test run or ``torghut-infra up`` prints the real cause (port in use,
bad binary, initdb failure) instead of a bare timeout.
"""

from __future__ import annotations

import re
from pathlib import Path

LOG_TAIL_LINES = 40
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of ``path`` (or a note saying why there are none)."""
    if path is None:
        return "(no log file)"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    text = _ANSI.sub("", data.decode("utf-8", errors="replace")).rstrip("\n")
    if not text:
        return f"(log {path} is empty)"
    return "\n".join(text.splitlines()[-lines:])


class EmbeddedError(RuntimeError):
    """Base class for launcher errors."""


class ServerStartError(EmbeddedError):
    """A server did not start or did not answer before its deadline.

    ``str(err)`` contains the reason and the last :data:`LOG_TAIL_LINES` lines of the server log.
    """

    def __init__(self, server: str, reason: str, log_path: Path | None) -> None:
        self.server = server
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail(log_path)
        super().__init__(
            f"{server} failed to start: {reason}\n"
            f"--- last {LOG_TAIL_LINES} lines of {log_path} ---\n{self.log_tail}\n--- end of log ---"
        )


class StackAlreadyRunning(EmbeddedError):
    """``stack.json`` in the data directory describes processes that are still alive."""


class StackNotFound(EmbeddedError):
    """No ``stack.json`` in the data directory: nothing was started there."""


class ServerExited(EmbeddedError):
    """A server process died while the launcher was waiting for it to answer."""

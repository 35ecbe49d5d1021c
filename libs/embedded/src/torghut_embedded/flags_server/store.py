"""The parsed files, re-read when they change; a file that no longer parses leaves the last good one served."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .features_file import FeaturesFileError, Namespace, load_features

log = logging.getLogger("torghut_embedded.flags_server")


class FlagStore:
    """The parsed files; :meth:`current` re-reads them when one changed (at most every ``check_interval_s``)."""

    def __init__(self, paths: Sequence[str | Path], *, check_interval_s: float = 0.5) -> None:
        self.paths = [Path(p) for p in paths]
        self.check_interval_s = check_interval_s
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._namespaces = load_features(self.paths)  # a bad file at start-up raises
        self._checked = time.monotonic()
        self.reloads = 0
        self.last_error: str | None = None

    def _stat(self) -> tuple[tuple[int, int] | None, ...]:
        stamps: list[tuple[int, int] | None] = []
        for path in self.paths:
            try:
                st = path.stat()
                stamps.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the files if they changed (or ``force``); True if new content is now served."""
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._stat()
            if stamp == self._stamp and not force:
                return False
            self._stamp = stamp
            try:
                namespaces = load_features(self.paths)
            except FeaturesFileError as exc:
                self.last_error = str(exc)
                log.error("features file not reloaded, the previous one stays in force: %s", exc)
                return False
            self._namespaces = namespaces
            self.last_error = None
            self.reloads += 1
            log.info("features reloaded: %s", {k: len(v.flags) for k, v in namespaces.items()})
            return True

    def current(self) -> dict[str, Namespace]:
        if time.monotonic() - self._checked >= self.check_interval_s:
            self.reload()
        return self._namespaces

"""The server under uvicorn in a background thread of this process: for tests and in-process demos."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .features_file import FeaturesFileError
from .http_api import create_app
from .store import FlagStore


class FlagsServer:
    """The app under uvicorn in a background thread, on loopback: for tests and in-process demos.

    >>> with FlagsServer(["features.yaml"]) as server:      # doctest: +SKIP
    ...     server.url                                     # http://127.0.0.1:PORT
    """

    def __init__(self, paths: Sequence[str | Path], *, host: str = "127.0.0.1", port: int = 0,
                 tokens: Iterable[str] = (), check_interval_s: float = 0.5) -> None:
        self.flags = create_app(paths, tokens=tokens, check_interval_s=check_interval_s)
        self.host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def store(self) -> FlagStore:
        return self.flags.store

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("the flags server is not running")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout_s: float = 10.0) -> Self:
        import uvicorn

        if self.running:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = int(sock.getsockname()[1])  # a restart comes back on the same port
        self._sock = sock
        config = uvicorn.Config(self.flags, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="torghut-flags-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the flags server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving (new connections are refused); :meth:`start` brings it back on the same port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = None

    def write(self, text: str, path: str | Path | None = None) -> None:
        """Replace a served file's content (atomically) and reload it now; a bad file raises
        :class:`FeaturesFileError` (and the previous content stays in force)."""
        target = Path(path) if path is not None else self.store.paths[0]
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, target)
        self.store.reload(force=True)
        if self.store.last_error is not None:
            raise FeaturesFileError(self.store.last_error)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

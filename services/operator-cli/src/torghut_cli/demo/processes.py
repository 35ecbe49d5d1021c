"""Service processes for the demo and the end-to-end tests: start, wait ready, stop, kill.

Each service runs as its own OS process (``python -m torghut_<pkg>``), exactly as in production,
so a test can SIGKILL one mid-stream and restart it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from torghut_embedded.processes import free_port, spawn


class ServiceFailed(RuntimeError):
    """A service exited or never became ready; the message carries its log tail."""


@dataclass
class ServiceProcess:
    name: str
    module: str
    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        suffix = "" if self.starts <= 1 else f".{self.starts}"
        return self.log_dir / f"{self.name}{suffix}.log"

    def start(self) -> None:
        """Start (or restart, into a new log file) the service, tied to this process's lifetime."""
        self.starts += 1
        env = {**os.environ, **self.env, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(self.port),
               "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        self.process, _ = spawn(self.name, [sys.executable, "-m", self.module], log_path=self.log_path, env=env,
                                tie_to_parent=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServiceFailed(f"{self.name} exited with code {self.process and self.process.returncode}:\n"
                                    f"{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2.0)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise ServiceFailed(f"{self.name} not ready after {timeout_s}s ({last}):\n{self.log_tail()}")

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM (finish the in-flight message, commit, close), then SIGKILL after the grace."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

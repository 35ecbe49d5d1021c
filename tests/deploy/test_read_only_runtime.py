"""Each service starts and gets ready the way the image runs it: read-only root, only /tmp writable,
a non-root uid, the image's environment (Dockerfile ENV) plus the compose settings, cwd /tmp.

There is no Docker daemon here, so the container is imitated with a private mount namespace
(util-linux `unshare` + `setpriv`): `/` is remounted read-only, a fresh tmpfs is mounted on /tmp,
and the console script runs as uid 10001 against the session's real broker and Postgres. A service
that writes outside /tmp (a cache under $HOME, bytecode, a relative data directory) fails here as
it would under `read_only: true` / `readOnlyRootFilesystem`. Needs root (as CI has); elsewhere the
tests skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: market-data is left out: its compose default streams from Alpaca, which needs credentials.
SERVICES = ["signal-trigger", "decision-client", "decision-engine", "risk-firewall", "execution-router",
            "whitepaper-ingest", "ta", "operator-console"]
UID = 10001

#: Compose values that point at the compose stack's own hosts; here the session's servers replace
#: them, or the settings' defaults apply (the object store: the local directory under /tmp).
STACK_ONLY = {"WHITEPAPER_OBJECT_STORE", "WHITEPAPER_S3_ENDPOINT_URL", "WHITEPAPER_S3_ACCESS_KEY_ID",
              "WHITEPAPER_S3_SECRET_ACCESS_KEY", "CLICKHOUSE_URL", "CONSOLE_SERVICES"}

#: Runs "$@" as the image would: read-only /, fresh /tmp, uid 10001, cwd /tmp. An interpreter under a
#: directory only root may traverse (pyenv or uv pythons under /root) is re-exposed at the same path.
SANDBOX = r"""
set -eu
mount -t tmpfs -o mode=1777,size=512m tmpfs /tmp
case "$BASE_PREFIX" in
  /root/*)
    mkdir /tmp/.keep
    mount --bind /root /tmp/.keep
    mount -t tmpfs -o mode=755 tmpfs /root
    mkdir -p "$BASE_PREFIX"
    mount --bind "/tmp/.keep${BASE_PREFIX#/root}" "$BASE_PREFIX"
    umount /tmp/.keep
    rmdir /tmp/.keep
    ;;
esac
mount -o remount,bind,ro /
cd /tmp
exec setpriv --reuid=$SANDBOX_UID --regid=$SANDBOX_UID --clear-groups -- "$@"
"""


def _sandbox_available() -> str | None:
    """None when the sandbox works here, else why not."""
    if os.geteuid() != 0:
        return "needs root for a private mount namespace"
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"util-linux {tool} is not installed"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SANDBOX, "sandbox",
                            sys.executable, "-c", "import pathlib; pathlib.Path('/etc/x').touch()"],
                           capture_output=True, text=True, timeout=60, check=False,
                           env={**os.environ, "BASE_PREFIX": sys.base_prefix, "SANDBOX_UID": str(UID)})
    if "Read-only file system" not in probe.stderr:
        return f"cannot build a read-only sandbox here: {probe.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="module")
def sandbox() -> None:
    reason = _sandbox_available()
    if reason:
        pytest.skip(reason)


def dockerfile_env() -> dict[str, str]:
    """The runtime stage's ENV (PATH rewritten to this checkout's venv)."""
    import re

    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text.split("AS runtime", 1)[1]
    env: dict[str, str] = {}
    for line in runtime.splitlines():
        if line.strip().startswith("ENV "):
            env |= {m.group(1): m.group(2) for m in re.finditer(r"(\w+)=(\S+)", line)}
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
@pytest.mark.parametrize("service", SERVICES)
async def test_service_gets_ready_on_a_read_only_root_as_non_root(
        sandbox: None, compose_config: dict[str, Any], kafka_bootstrap: str, fresh_database_url: str,
        topic_namespace: str, service: str, tmp_path: Path) -> None:
    from torghut_contracts import topics
    from torghut_runtime.testing import create_topics_for

    script = Path(sys.executable).parent / f"torghut-{service}"
    if not script.exists():
        pytest.skip(f"torghut-{service} is not installed yet (services/{service} without its console script)")
    await create_topics_for(kafka_bootstrap, topic_namespace, *topics.all_topic_specs())

    environment = {k: str(v) for k, v in compose_config["services"][service]["environment"].items()
                   if v is not None and k not in STACK_ONLY}
    port = free_port()
    environment |= dockerfile_env() | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "DATABASE_URL": fresh_database_url,
        "TOPIC_PREFIX": topic_namespace, "HTTP_PORT": str(port), "HTTP_HOST": "127.0.0.1",
        "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200", "GRACEFUL_TIMEOUT_S": "5",
        "BASE_PREFIX": sys.base_prefix, "SANDBOX_UID": str(UID),
    }
    log = tmp_path / f"{service}.log"
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            "unshare", "-m", "--propagation", "private", "sh", "-c", SANDBOX, "sandbox", str(script),
            stdout=out, stderr=subprocess.STDOUT, env=environment)
    try:
        deadline = time.monotonic() + 90
        status, body = 0, ""
        while time.monotonic() < deadline and process.returncode is None:
            try:
                status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/readyz")
            except OSError:
                status = 0
            if status == 200:
                break
            await asyncio.sleep(0.3)
        assert status == 200, f"{service} not ready (last /readyz {status} {body}); exit {process.returncode}; " \
                              f"log:\n{log.read_text()[-4000:]}"
        assert json.loads(body)["status"] == "ready"
        health, _ = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/healthz")
        assert health == 200
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
        assert code in (0, -signal.SIGTERM), f"{service} exited {code} on SIGTERM:\n{log.read_text()[-4000:]}"
        text = log.read_text()
        assert "Read-only file system" not in text and "Permission denied" not in text, text[-4000:]
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)

"""A throwaway ClickHouse server for tests: Debian's ``clickhouse-server`` on free loopback ports.

The config is generated in a temporary directory (ClickHouse 18.16's ``<yandex>`` format, which
newer servers still read), so nothing outside it is touched. Readiness and the few statements the
fixtures need (create / drop a database) go through the HTTP interface, so this library does not
need clickhouse-driver; tests talk to the native port with whatever client they test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import ServerStartError
from .processes import ProcessRecord, free_ports, spawn, stop_processes

INSTALL_HINT = ("clickhouse-server is not installed: install it with "
                "`apt-get update && apt-get install -y clickhouse-server` (Debian, as root), "
                "or run scripts/ensure-clickhouse.sh")

_CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
</yandex>
"""
_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>1000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"""


def server_command() -> list[str] | None:
    """How to start a ClickHouse server here, or None when none is installed."""
    if path := shutil.which("clickhouse-server"):
        return [path]
    if path := shutil.which("clickhouse"):
        return [path, "server"]
    return None


@dataclass(frozen=True)
class ClickHouseServer:
    """A running server: native protocol on ``tcp_port``, HTTP on ``http_port``, user ``default``, no password."""

    host: str
    tcp_port: int
    http_port: int
    data_dir: Path

    def url(self, database: str = "default") -> str:
        """clickhouse-driver's URL for ``database`` (native protocol)."""
        return f"clickhouse://default:@{self.host}:{self.tcp_port}/{database}"

    def execute(self, sql: str, timeout_s: float = 30.0) -> str:
        """Run one statement over HTTP; returns the response body, raises with the server's message."""
        request = urllib.request.Request(f"http://{self.host}:{self.http_port}/", data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"ClickHouse refused {sql[:80]!r}: {exc.read().decode()[:500]}") from None


def _answers(server: ClickHouseServer) -> bool:
    try:
        with socket.create_connection((server.host, server.tcp_port), timeout=1):
            pass
        return server.execute("SELECT 1", timeout_s=1).strip() == "1"
    except (OSError, RuntimeError):
        return False


@dataclass
class RunningClickHouse:
    """A server this process started, and how to stop it."""

    server: ClickHouseServer
    proc: subprocess.Popen[bytes]
    record: ProcessRecord

    def stop(self, *, keep_data: bool = False) -> dict[str, str]:
        """Stop the server (SIGTERM, then SIGKILL); its directory goes too unless ``keep_data``."""
        outcome = stop_processes([self.record], grace_s=15, children={self.proc.pid: self.proc})
        if not keep_data:
            shutil.rmtree(self.server.data_dir, ignore_errors=True)
        return outcome


def start_clickhouse(command: list[str], *, timeout_s: float = 30.0) -> RunningClickHouse:
    """Start a server in a fresh temporary directory; :class:`ServerStartError` (with its log) if it fails."""
    data_dir = Path(tempfile.mkdtemp(prefix="torghut-clickhouse-"))
    tcp_port, http_port = free_ports(2)  # distinct: native and HTTP
    server = ClickHouseServer("127.0.0.1", tcp_port, http_port, data_dir)
    (data_dir / "config.xml").write_text(_CONFIG.format(dir=data_dir, tcp=server.tcp_port, http=server.http_port))
    (data_dir / "users.xml").write_text(_USERS)
    # tie_to_parent: a crashed or killed test run does not leave the server behind.
    proc, record = spawn("clickhouse", [*command, f"--config-file={data_dir / 'config.xml'}"],
                         log_path=data_dir / "stdout.log", cwd=data_dir, tie_to_parent=True)
    running = RunningClickHouse(server, proc, record)
    deadline = time.monotonic() + timeout_s
    while not _answers(server):
        if proc.poll() is not None or time.monotonic() > deadline:
            reason = (f"exited with {proc.returncode}" if proc.returncode is not None
                      else f"not answering on {server.tcp_port} after {timeout_s:g} s")
            error = ServerStartError("clickhouse-server", reason, data_dir / "error.log")  # reads the log now
            running.stop()
            raise error
        time.sleep(0.05)
    return running

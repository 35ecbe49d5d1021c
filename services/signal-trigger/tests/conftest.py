"""Fixtures for signal-trigger's tests: signal builders and a real ClickHouse server.

The ClickHouse fixture starts Debian's ``clickhouse-server`` (18.16) on free loopback ports with a
config generated in a temporary directory, and stops it at the end of the session. Without the
binary the ClickHouse tests skip with how to install it; under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from torghut_embedded.processes import free_ports, spawn, stop_processes

INSTALL_HINT = ("clickhouse-server is not installed: install it with "
                "`apt-get update && apt-get install -y clickhouse-server` (Debian, as root), "
                "or run scripts/ensure-clickhouse.sh")


# -- ClickHouse ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClickHouseServer:
    host: str
    tcp_port: int
    http_port: int
    data_dir: Path

    def url(self, database: str = "default") -> str:
        return f"clickhouse://default:@{self.host}:{self.tcp_port}/{database}"


def _server_command() -> list[str] | None:
    if path := shutil.which("clickhouse-server"):
        return [path]
    if path := shutil.which("clickhouse"):
        return [path, "server"]
    return None


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


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[ClickHouseServer]:
    command = _server_command()
    if command is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT + " (CI=true: missing ClickHouse is a failure, not a skip)")
        pytest.skip(INSTALL_HINT)
    from clickhouse_driver import Client

    data_dir = Path(tempfile.mkdtemp(prefix="torghut-clickhouse-"))
    server = ClickHouseServer("127.0.0.1", *free_ports(2), data_dir)  # distinct: HTTP and native
    (data_dir / "config.xml").write_text(_CONFIG.format(dir=data_dir, tcp=server.tcp_port, http=server.http_port))
    (data_dir / "users.xml").write_text(_USERS)
    # tie_to_parent: a crashed or killed test run does not leave the server behind.
    proc, record = spawn("clickhouse", [*command, f"--config-file={data_dir / 'config.xml'}"],
                         log_path=data_dir / "stdout.log", cwd=data_dir, tie_to_parent=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                tail = (data_dir / "error.log").read_text()[-2000:] if (data_dir / "error.log").exists() else ""
                pytest.fail(f"clickhouse-server exited with {proc.returncode}: {tail}")
            try:
                Client(server.host, port=server.tcp_port, connect_timeout=1).execute("SELECT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(f"clickhouse-server not answering on {server.tcp_port} after 30 s")
                time.sleep(0.05)
        yield server
    finally:
        stop_processes([record], grace_s=15, children={proc.pid: proc})
        shutil.rmtree(data_dir, ignore_errors=True)

"""Answers the OpenFeature Flipt provider would otherwise take at face value (no value, a string, not
JSON, too slow) fall back to the configured value, counted by reason."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from torghut_runtime.flags import FeatureFlags

from .conftest import FEED, counter, settings, start

pytestmark = pytest.mark.timeout(60)


class _Misbehaving(BaseHTTPRequestHandler):
    mode = "no-value"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.mode == "slow":
            time.sleep(1.0)
        key = self.path.rsplit("/", 1)[-1]
        body = {"no-value": {"key": key, "reason": "DEFAULT", "variant": "x", "metadata": {}},
                "string-value": {"key": key, "reason": "DEFAULT", "variant": "x", "value": "true", "metadata": {}},
                "not-json": "<html>proxy error</html>",
                "slow": {"key": key, "reason": "DEFAULT", "variant": "false", "value": False, "metadata": {}},
                }[self.mode]
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (the timeout case)
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def misbehaving() -> Iterator[Callable[[str], str]]:
    servers: list[ThreadingHTTPServer] = []

    def make(mode: str) -> str:
        handler = type("Handler", (_Misbehaving,), {"mode": mode})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("mode", "reason"), [("no-value", "malformed"), ("string-value", "malformed"),
                                              ("not-json", "malformed"), ("slow", "timeout")])
async def test_malformed_or_slow_answers_fall_back(misbehaving: Callable[[str], str], running: list[FeatureFlags],
                                                   mode: str, reason: str) -> None:
    registry = CollectorRegistry()
    flags = await start(running, FeatureFlags(settings(misbehaving(mode), timeout_ms=100), {FEED: True},
                                              registry=registry))
    assert flags.value(FEED) is True
    assert flags.source(FEED) == "fallback"
    assert counter(registry, "torghut_feature_flag_fallbacks_total", flag=FEED.key, reason=reason) == 1

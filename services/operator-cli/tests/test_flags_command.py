"""`torghut flags` against the embedded flag server: values per service, source, and the fallback."""

from __future__ import annotations

import json
from typing import Any

import pytest
from torghut_cli import main
from torghut_embedded.flags_server import FlagsServer
from torghut_runtime.flags import Flag
from torghut_runtime.testing import flag_features

pytestmark = pytest.mark.timeout(60)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_flags_lists_every_flag_per_service_with_its_source(
        flags_server: FlagsServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADING_FEATURE_FLAGS_URL", raising=False)
    # shorts on, the order feed absent from the file (a fallback to its default)
    flags_server.write(flag_features(**{f.key: f.spec.default for f in Flag if f is not Flag.ORDER_FEED_ENABLED}
                                     | {Flag.ALLOW_SHORTS.key: True}))
    code, out, _ = run(capsys, "flags", "--flags-url", flags_server.url, "--json")
    assert code == 0
    rows: dict[tuple[str, str], dict[str, Any]] = {(r["flag"], r["service"]): r for r in json.loads(out)}
    assert {k for k, _ in rows} == {f.key for f in Flag}
    assert ("torghut_trading_lean_enabled", "decision-client") in rows
    assert ("torghut_trading_lean_enabled", "execution-router") in rows
    shorts = rows[("torghut_trading_allow_shorts", "risk-firewall")]
    assert (shorts["value"], shorts["source"], shorts["default"], shorts["safe"], shorts["setting"]) == \
        (True, "server", False, False, "risk_limits.allow_shorts")
    feed = rows[("torghut_trading_order_feed_enabled", "execution-router")]
    assert (feed["value"], feed["source"]) == (True, "fallback")

    code, out, _ = run(capsys, "flags", "--flags-url", flags_server.url)  # the table
    assert code == 0 and "torghut_trading_allow_shorts" in out

    url = flags_server.url
    flags_server.stop()  # no server: every flag falls back; a loosening flag shows its safe value
    monkeypatch.setenv("TRADING_FEATURE_FLAGS_URL", url)
    code, out, _ = run(capsys, "flags", "--json")
    rows = {(r["flag"], r["service"]): r for r in json.loads(out)}
    assert all(r["source"] == "fallback" for r in rows.values())
    assert rows[("torghut_trading_allow_shorts", "risk-firewall")]["value"] is False

    monkeypatch.delenv("TRADING_FEATURE_FLAGS_URL")
    code, _, err = run(capsys, "flags")
    assert code == 2 and "--flags-url" in err

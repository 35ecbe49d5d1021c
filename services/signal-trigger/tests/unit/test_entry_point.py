"""The console script refuses to start on a bad configuration, naming it, with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from torghut_signal_trigger.__main__ import main


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    return monkeypatch


def test_a_bad_strategy_book_stops_start_up(environment: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    book = tmp_path / "book.yaml"
    book.write_text("version: 1\nstrategies:\n  - {id: x, type: macd_cross, universe: '*', cooldown: 5}\n")
    environment.setenv("STRATEGIES_PATH", str(book))
    with pytest.raises(SystemExit) as raised:
        main()
    assert raised.value.code == 2
    assert "strategies[0].cooldown: unknown key" in capsys.readouterr().err


def test_a_bad_variable_stops_start_up(environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    environment.setenv("SIGNAL_MAX_STALENESS_MS", "soon")
    with pytest.raises(SystemExit) as raised:
        main()
    assert raised.value.code == 2
    assert "SIGNAL_MAX_STALENESS_MS" in capsys.readouterr().err

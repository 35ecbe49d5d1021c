"""A renamed variable keeps working under its old name, with a warning; old and new disagreeing stops start-up."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pydantic import Field
from structlog.testing import capture_logs
from torghut_runtime import ConfigError, ServiceSettings, load_settings
from torghut_runtime.settings import Clock, RenamedVariable, fold_renamed_variables, renamed_clock

BASE = {"kafka_bootstrap_servers": "127.0.0.1:9092", "database_url": "postgresql://u@h/db"}
OLD_CLOCK = renamed_clock("OLD_CLOCK")
OLD_MODE = renamed_clock("OLD_MODE", wall="live", event="replay")


class ClockedSettings(ServiceSettings):
    renamed_variables = (OLD_MODE,)

    clock: Clock = Field(default="wall")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLOCK", "OLD_CLOCK", "OLD_MODE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("renamed", "data", "environ", "folded", "in_use"), [
    (OLD_CLOCK, {}, {}, {}, False),                                            # nothing set: the default
    (OLD_CLOCK, {"clock": "event"}, {}, {"clock": "event"}, False),            # the new name alone
    (OLD_CLOCK, {}, {"OLD_CLOCK": "event"}, {"clock": "event"}, True),         # the old name alone
    (OLD_CLOCK, {}, {"old_clock": "event"}, {"clock": "event"}, True),         # any case, as pydantic-settings
    (OLD_CLOCK, {"old_clock": "event"}, {}, {"clock": "event"}, True),         # a keyword argument
    (OLD_CLOCK, {"clock": "event"}, {"OLD_CLOCK": "event"}, {"clock": "event"}, True),  # both, agreeing
    (OLD_MODE, {}, {"OLD_MODE": "replay"}, {"clock": "event"}, True),          # old words translated
    (OLD_MODE, {}, {"OLD_MODE": "live"}, {"clock": "wall"}, True),
    (OLD_MODE, {"clock": "event"}, {"OLD_MODE": "replay"}, {"clock": "event"}, True),
])
def test_fold(renamed: RenamedVariable, data: dict[str, Any], environ: dict[str, str], folded: dict[str, Any],
              in_use: bool) -> None:
    assert fold_renamed_variables("S", (renamed,), data, environ) == (folded, (renamed,) if in_use else ())


@pytest.mark.parametrize(("renamed", "data", "environ", "named"), [
    (OLD_CLOCK, {"clock": "wall"}, {"OLD_CLOCK": "event"}, r"CLOCK='wall' and the deprecated OLD_CLOCK='event'"),
    (OLD_MODE, {"clock": "wall"}, {"OLD_MODE": "replay"}, r"CLOCK='wall' and the deprecated OLD_MODE='replay'"),
    (OLD_MODE, {}, {"OLD_MODE": "event"}, r"OLD_MODE 'event' is not one of \['live', 'replay'\]"),
])
def test_fold_refuses_what_it_would_have_to_guess(renamed: RenamedVariable, data: dict[str, Any],
                                                  environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        fold_renamed_variables("S", (renamed,), data, environ)


def test_the_new_name_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK", "event")
    settings = load_settings(ClockedSettings, **BASE)
    assert settings.clock == "event" and settings.renamed_variables_in_use == ()


def test_the_old_name_works_and_is_remembered_as_deprecated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLD_MODE", "replay")
    settings = load_settings(ClockedSettings, **BASE)
    assert settings.clock == "event" and settings.renamed_variables_in_use == (OLD_MODE,)


def test_old_and_new_disagreeing_stop_start_up_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK", "wall")
    monkeypatch.setenv("OLD_MODE", "replay")
    with pytest.raises(ConfigError, match="ClockedSettings: CLOCK='wall' and the deprecated OLD_MODE='replay'"):
        load_settings(ClockedSettings, **BASE)


def test_a_bad_new_value_still_names_the_new_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOCK", "replay")
    with pytest.raises(ConfigError, match="CLOCK"):
        load_settings(ClockedSettings, **BASE)


class _Runtime:
    ran = False

    def run(self) -> None:
        self.ran = True


@pytest.mark.parametrize(("env", "warned"), [({"OLD_MODE": "replay"}, True), ({"CLOCK": "event"}, False)])
def test_start_up_warns_about_each_old_name_with_the_new_one(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                             warned: bool) -> None:
    from torghut_runtime.entrypoint import serve  # the whole runtime: only this test needs it
    from torghut_runtime.service import ServiceRuntime

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime = _Runtime()
    with capture_logs() as logs:
        serve("torghut-test", lambda: load_settings(ClockedSettings, **BASE),
              lambda _settings: cast(ServiceRuntime, runtime))
    assert runtime.ran
    warnings = [line for line in logs if line["event"] == "deprecated environment variable"]
    if warned:
        assert warnings == [{"event": "deprecated environment variable", "log_level": "warning",
                             "variable": "OLD_MODE", "replaced_by": "CLOCK",
                             "hint": "set CLOCK=event instead; OLD_MODE will stop being read"}]
    else:
        assert warnings == []


def test_plain_service_settings_rename_nothing() -> None:
    assert ServiceSettings.renamed_variables == ()
    assert load_settings(ServiceSettings, **BASE).renamed_variables_in_use == ()

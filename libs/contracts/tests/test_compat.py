"""The compatibility check names each kind of breaking change on a mutated copy of a model."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from torghut_contracts import compat, topics
from torghut_contracts.cli import DEFAULT_DIR, main
from torghut_contracts.models.base import Contract


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class Narrow(StrEnum):
    RED = "red"


class Wide(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Leg(Contract):
    venue: str


class Released(Contract):
    order_id: str
    qty: int
    colour: Colour
    note: str | None = None
    legs: list[Leg] = Field(default_factory=list)


def _spec(model: type[BaseModel]) -> topics.TopicSpec:
    return topics.TopicSpec("test.orders.v1", model, "order_id", lambda m: m.order_id)


def _problems(model: type[BaseModel], tmp_path: Path) -> list[str]:
    (tmp_path / "test.orders.v1.json").write_text(json.dumps(compat.schema_of(_spec(Released))))
    report = compat.check(tmp_path, (_spec(model),))
    return [f"{b.path}: {b.problem}" for b in report.breaking]


def test_identical_schema_is_compatible(tmp_path: Path) -> None:
    assert _problems(Released, tmp_path) == []


def test_a_new_optional_field_is_compatible_but_stale(tmp_path: Path) -> None:
    class Grown(Released):
        venue_hint: str | None = None

    (tmp_path / "test.orders.v1.json").write_text(json.dumps(compat.schema_of(_spec(Released))))
    report = compat.check(tmp_path, (_spec(Grown),))
    assert report.breaking == [] and report.stale == ["test.orders.v1"]


def test_removed_field(tmp_path: Path) -> None:
    class Shrunk(Contract):
        order_id: str
        colour: Colour
        note: str | None = None
        legs: list[Leg] = Field(default_factory=list)

    assert _problems(Shrunk, tmp_path) == ["qty: removed field"]


def test_renamed_field(tmp_path: Path) -> None:
    class Renamed(Contract):
        order_id: str
        quantity: int | None = None
        colour: Colour
        note: str | None = None
        legs: list[Leg] = Field(default_factory=list)

    assert _problems(Renamed, tmp_path) == ["qty: removed field (renamed to quantity?)"]


def test_changed_type(tmp_path: Path) -> None:
    class Retyped(Released):
        qty: str  # type: ignore[assignment]

    assert _problems(Retyped, tmp_path) == ["qty: changed type: ['integer'] -> ['string']"]


def test_changed_type_in_a_nested_list(tmp_path: Path) -> None:
    class OtherLeg(Contract):
        venue: int

    class Nested(Released):
        legs: list[OtherLeg] = Field(default_factory=list)  # type: ignore[assignment]

    assert _problems(Nested, tmp_path) == ["legs.[].venue: changed type: ['string'] -> ['integer']"]


def test_new_required_field(tmp_path: Path) -> None:
    class Demanding(Released):
        account: str

    assert _problems(Demanding, tmp_path) == ["account: new required field"]


def test_optional_field_made_required(tmp_path: Path) -> None:
    class Stricter(Released):
        note: str  # type: ignore[assignment]

    problems = _problems(Stricter, tmp_path)
    assert "note: new required field" in problems


def test_narrowed_enum(tmp_path: Path) -> None:
    class Narrowed(Released):
        colour: Narrow  # type: ignore[assignment]

    assert _problems(Narrowed, tmp_path) == ['colour: narrowed enum: removed "green"']


def test_widened_enum_is_flagged_because_enums_are_closed(tmp_path: Path) -> None:
    class Widened(Released):
        colour: Wide  # type: ignore[assignment]

    assert _problems(Widened, tmp_path) == [
        'colour: widened enum: added "blue" (enums are closed; older consumers reject it)']


def test_removed_topic(tmp_path: Path) -> None:
    (tmp_path / "test.gone.v1.json").write_text("{}")
    report = compat.check(tmp_path, ())
    assert [b.topic for b in report.breaking] == ["test.gone.v1"]


def test_snapshot_refuses_a_breaking_change(tmp_path: Path) -> None:
    class Retyped(Released):
        qty: str  # type: ignore[assignment]

    (tmp_path / "test.orders.v1.json").write_text(json.dumps(compat.schema_of(_spec(Released))))
    with pytest.raises(ValueError, match="changed type"):
        compat.write_snapshots(tmp_path, (_spec(Retyped),))


def test_a_correction_rewrites_a_snapshot_that_described_the_model_wrongly(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    for spec in topics.ALL_TOPICS:
        schema = compat.schema_of(spec)
        if spec is topics.TA_SIGNALS:
            del schema["properties"]["symbol"]["pattern"]
        compat.snapshot_path(tmp_path, spec.name).write_text(json.dumps(schema))
    assert main(["snapshot", "--dir", str(tmp_path)]) == 1
    assert main(["snapshot", "--dir", str(tmp_path), "--correction", "the pattern was missing"]) == 0
    out = capsys.readouterr().out
    assert "CORRECTED torghut.ta.signals.v1: symbol: changed constraint pattern" in out
    assert "wrote torghut.ta.signals.v1" in out
    assert main(["check", "--dir", str(tmp_path)]) == 0


def test_the_committed_snapshots_match_the_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--dir", str(DEFAULT_DIR)]) == 0


def test_the_cli_fails_readably_on_a_breaking_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for spec in topics.ALL_TOPICS:
        schema = compat.schema_of(spec)
        if spec is topics.TRIGGERS:
            schema["properties"]["request_id"]["type"] = "integer"
        compat.snapshot_path(tmp_path, spec.name).write_text(json.dumps(schema))
    assert main(["check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "BREAKING torghut.triggers.v1: request_id: changed type: ['integer'] -> ['string']" in err
    assert ".vN topic" in err

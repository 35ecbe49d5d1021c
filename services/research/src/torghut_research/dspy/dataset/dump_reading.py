"""Reading a ``torghut replay dump``: every record but the signals, parsed as its contract, by key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from torghut_contracts import topics
from torghut_contracts.enums import TradeEvent
from torghut_contracts.models import AccountSnapshot, Decision, RiskVerdict, StrategyTrigger, TradeUpdate

from ...config import describe
from ...errors import InputError
from ...signals import dump_records

TOPICS_READ = (topics.TA_SIGNALS, topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.TRADE_UPDATES,
               topics.ACCOUNT_SNAPSHOTS)
FILLS = (TradeEvent.FILL, TradeEvent.PARTIAL_FILL)


@dataclass
class _Record:
    locator: str
    """``file:line (topic:partition:offset)``."""
    timestamp_ms: int
    value: Any


@dataclass
class _Tables:
    decisions: dict[str, tuple[_Record, Decision]] = field(default_factory=dict)
    triggers: dict[str, tuple[_Record, StrategyTrigger]] = field(default_factory=dict)
    verdicts: dict[str, RiskVerdict] = field(default_factory=dict)
    fills: dict[str, list[TradeUpdate]] = field(default_factory=dict)
    snapshots: dict[str, list[tuple[int, int, AccountSnapshot]]] = field(default_factory=dict)
    duplicates: int = 0
    verdicts_without_decision: int = 0


def _dump_files(dump: Path) -> list[Path]:
    if dump.is_dir():
        files = sorted(p for p in dump.iterdir() if p.suffix in (".jsonl", ".json") and p.is_file())
        if not files:
            raise InputError(f"{dump}: no .jsonl dump files in this directory")
        return files
    if not dump.exists():
        raise InputError(f"{dump}: no such dump file or directory")
    return [dump]


def _records(files: list[Path]) -> Iterator[tuple[str, _Record]]:
    """Every dumped record but the signals (read by :class:`_Bars`, through the lane's reader)."""
    signals = f'{topics.TA_SIGNALS.name}"'.encode()
    for path in files:
        for number, raw in dump_records(path, skip=lambda line: signals in line[:200]):
            topic = str(raw.get("topic", ""))
            where = f"{topic}:{raw.get('partition', '?')}:{raw.get('offset', '?')}"
            locator = f"{path}:{number} ({where})"
            stamp = raw.get("timestamp_ms")
            yield topic, _Record(locator, int(stamp) if isinstance(stamp, int) else 0, raw.get("value"))


def _parse(model: type[BaseModel], record: _Record, name: str) -> Any:
    if not isinstance(record.value, dict):
        raise InputError(f"{record.locator}: a {name} record whose value is not a JSON object")
    try:
        return model.model_validate(record.value)
    except ValidationError as exc:
        raise InputError(f"{record.locator}: invalid {name}: {describe(exc)}") from None
    finally:
        record.value = None  # parsed: the model is kept, not the raw dict


def _spec_of(topic: str) -> topics.TopicSpec | None:  # type: ignore[type-arg]
    for spec in TOPICS_READ[1:]:
        if topic == spec.name or topic.endswith("." + spec.name):
            return spec
    return None


def _read_tables(files: list[Path]) -> _Tables:
    tables = _Tables()
    for topic, record in _records(files):
        spec = _spec_of(topic)
        if spec is None:
            continue
        if spec is topics.DECISIONS:
            decision: Decision = _parse(Decision, record, "decision")
            if decision.decision_id in tables.decisions:
                tables.duplicates += 1
            else:
                tables.decisions[decision.decision_id] = (record, decision)
        elif spec is topics.TRIGGERS:
            trigger: StrategyTrigger = _parse(StrategyTrigger, record, "trigger")
            tables.triggers.setdefault(trigger.request_id, (record, trigger))
        elif spec is topics.RISK_VERDICTS:
            verdict: RiskVerdict = _parse(RiskVerdict, record, "risk verdict")
            tables.verdicts.setdefault(verdict.decision_id, verdict)
        elif spec is topics.TRADE_UPDATES:
            update: TradeUpdate = _parse(TradeUpdate, record, "trade update")
            if update.event in FILLS and update.decision_id:
                tables.fills.setdefault(update.decision_id, []).append(update)
        elif spec is topics.ACCOUNT_SNAPSHOTS:
            snapshot: AccountSnapshot = _parse(AccountSnapshot, record, "account snapshot")
            rows = tables.snapshots.setdefault(snapshot.account, [])
            rows.append((record.timestamp_ms, len(rows), snapshot))
    tables.verdicts_without_decision = sum(1 for d in tables.verdicts if d not in tables.decisions)
    for rows in tables.snapshots.values():
        rows.sort(key=lambda r: (r[0], r[1]))
    return tables

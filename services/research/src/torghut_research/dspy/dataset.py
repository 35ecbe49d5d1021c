"""The DSPy data set: labelled trade decisions from what the suite recorded (``torghut replay dump`` files).

``torghut-research dspy dataset --dump <file|dir> --output-dir D --created-at TS`` reads, from the dump:

* ``torghut.decisions.v1``: one example per decision (by ``decision_id``; a republished duplicate
  counts once);
* ``torghut.triggers.v1``: the decision's trigger, by ``request_id`` (required: a decision whose
  trigger is not in the dump is an error);
* ``torghut.ta.signals.v1``: the trigger's own bar (by symbol and ``signal_seq``, required) and what
  the price did next (read with :func:`torghut_research.sources.load_signals`, the lane's reader);
* ``torghut.risk.verdicts.v1``: the firewall's verdict on the decision, by ``decision_id`` (optional);
* ``torghut.trade-updates.v1``: the decision's fills, by ``decision_id`` (optional; recorded only);
* ``torghut.account.snapshots.v1``: the portfolio the decision-client knew: the account's latest
  snapshot the broker took before the decision (optional, see below).

**Input** of an example is the program's one input field, ``request_json``: the decision request
exactly as the decision-client sends it (``DecisionRequest.model_dump_json()``: trigger with its
features, portfolio, risk policy, execution context). The portfolio is the latest snapshot of the
decision's account whose record time is at or before the decision's record time (what the client
had read); with no such snapshot, a flat portfolio of ``default_equity`` (``portfolioSource:
default`` in the example). The risk policy and execution context are the decision-client's defaults
unless given (the dump does not carry the client's settings).

**Label** (rule ``forward-return-net-of-costs-v1``):

1. ``move_bps`` = (price ``horizon_bars`` bars of the same symbol after the trigger's bar −
   trigger price) / trigger price × 10,000;
2. ``cost_bps`` = the round trip: the trigger bar's spread (``spread_bps``, else
   ``default_spread_bps``) plus twice ``slippage_bps``;
3. ``right_action`` = buy when ``move_bps > cost_bps``, sell when ``move_bps < -cost_bps``, else hold
   (a move within costs earns nothing);
4. ``firewall_vetoed`` = the verdict on a buy or sell decision (true: veto, false: approve); null for
   a hold decision (the firewall "vetoes" every hold with ``decision_hold``: not a judgement) or
   when no verdict was recorded;
5. the target ``action`` = ``right_action``, except hold when the firewall vetoed the recorded
   trade: a proposal the firewall refuses does nothing (at best), so the right proposal is one that
   is both right about the price and executable; ``right_action`` stays in the label.

The other output fields make the label a complete worked example: ``qty`` =
``floor(max_notional_per_trade / price)`` (at least 1) for a buy or sell, 0 for a hold; ``confidence``
0.7; ``rationale`` states the move against the costs; ``risk_flags`` are the firewall's reason codes
when it vetoed. A decision whose horizon runs past the dump's last bar of its symbol cannot be
labelled: it is left out and listed under ``excluded`` with its reason, never dropped silently.

**Janus event** (``label.janusEvent``, what the ``janus-hgrm-v1`` metric scores against): the
trigger bar's event from :func:`torghut_research.janus.events.compute_events` over the dump's
signals, with ``event_window_bars = horizon_bars`` and ``strong_threshold``: its CAR (a return,
summed abnormal one-bar returns against the cross-sectional market mean), direction (``long``,
``short``, ``neutral``), event type and whether it is strong.

**Errors**: a record that does not parse as its contract, a decision without its trigger or a
trigger without its bar stops the build with :class:`InputError` naming the file and line, the
record (``topic:partition:offset``) and the field.

**Split**: an example is in ``eval`` when the first 8 hex digits of SHA-256(example id), read as an
integer over 2^32, are below ``eval_fraction``; else ``train``. Deterministic, independent of the
order and of the other examples.

**Hash**: ``datasetHash`` = ``hash_payload`` (canonical JSON) of the data set document without its
``createdAt``: the first link of the DSPy hash chain (``build_compile_result``'s ``dataset_hash``).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError
from torghut_contracts import topics
from torghut_contracts.decision_engine import (
    DecisionRequest,
    ExecutionContext,
    PortfolioContext,
    PortfolioPosition,
    RiskPolicyContext,
    TriggerContext,
)
from torghut_contracts.enums import Adapter, TradeEvent, VerdictOutcome
from torghut_contracts.models import AccountSnapshot, Decision, RiskVerdict, StrategyTrigger, TradeUpdate

from ..config import describe
from ..errors import InputError, read_json_object
from ..janus.events import DIRECTIONS, compute_events
from ..janus.settings import JanusSettings
from ..signals import dump_records
from ..sources import load_signals
from .hashing import canonical_json

DATASET_SCHEMA = "torghut.dspy.dataset.v1"
DATASET_FILE = "dspy-dataset.json"
LABEL_RULE = "forward-return-net-of-costs-v1"
PROGRAM_NAME = "trade-decision-v1"  # torghut_decision_program.constants (kept here: the builder needs no dspy)
INPUT_FIELDS = ("request_json",)
OUTPUT_FIELDS = ("action", "qty", "confidence", "rationale", "risk_flags")
LABEL_CONFIDENCE = 0.7
TOPICS_READ = (topics.TA_SIGNALS, topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.TRADE_UPDATES,
               topics.ACCOUNT_SNAPSHOTS)
FILLS = (TradeEvent.FILL, TradeEvent.PARTIAL_FILL)


@dataclass(frozen=True)
class DatasetConfig:
    horizon_bars: int = 5
    strong_threshold: float = 0.0025
    slippage_bps: float = 1.0
    default_spread_bps: float = 5.0
    eval_fraction: float = 0.3
    default_equity: str = "100000"
    max_notional_per_trade: str = "7000"
    max_position_pct_equity: str = "0.08"
    kill_switch_enabled: bool = False
    primary_adapter: str = Adapter.ALPACA.value
    trading_mode: str = "paper"

    def __post_init__(self) -> None:
        if self.horizon_bars < 1:
            raise InputError("horizon_bars must be at least 1")
        if not (math.isfinite(self.strong_threshold) and self.strong_threshold >= 0):
            raise InputError("strong_threshold must be a number at or above 0")
        if not 0 < self.eval_fraction < 1:
            raise InputError("eval_fraction must be between 0 and 1 (exclusive)")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


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


def split_of(example_id: str, eval_fraction: float) -> str:
    point = int(hashlib.sha256(example_id.encode()).hexdigest()[:8], 16) / 2**32
    return "eval" if point < eval_fraction else "train"


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


class _Bars:
    """Per symbol, the dump's bars in the order signal-trigger receives them: seq -> row, and prices; and every
    bar's Janus event (CAR over the label's horizon against the cross-sectional market mean)."""

    def __init__(self, dump: Path, config: DatasetConfig) -> None:
        signals = load_signals(str(dump))
        columns = signals.columns
        self.rows: dict[str, dict[int, int]] = {}
        self.prices: dict[str, np.ndarray] = {}
        self.spreads: dict[str, np.ndarray] = {}
        self.signal_rows: dict[str, np.ndarray] = {}
        symbols = columns.symbol
        for symbol in sorted(set(symbols.tolist())):
            where = np.flatnonzero(symbols == symbol)
            self.rows[symbol] = {int(seq): i for i, seq in enumerate(columns.seq[where].tolist())}
            self.prices[symbol] = signals.price[where]
            self.spreads[symbol] = signals.spread_bps[where]
            self.signal_rows[symbol] = where
        self.events = compute_events(signals, JanusSettings(event_window_bars=config.horizon_bars,
                                                            strong_threshold=config.strong_threshold))

    def event(self, symbol: str, row: int) -> dict[str, Any]:
        """The Janus event of ``symbol``'s bar ``row``: what the HGRM metric scores a prediction against."""
        at = int(self.signal_rows[symbol][row])
        return {"car": round(float(self.events.car[at]), 8), "direction": DIRECTIONS[int(self.events.direction[at])],
                "eventType": self.events.event_type(at), "strong": bool(self.events.strong[at])}


def _portfolio(tables: _Tables, record: _Record, decision: Decision,
               config: DatasetConfig) -> tuple[PortfolioContext, str]:
    rows = tables.snapshots.get(decision.account, [])
    known = bisect.bisect_right(rows, record.timestamp_ms, key=lambda r: r[0])
    if not known:
        return PortfolioContext(equity=Decimal(config.default_equity), buying_power=Decimal(config.default_equity),
                                current_exposure=Decimal(0)), "default"
    snapshot = rows[known - 1][2]
    held = next((p for p in snapshot.positions if p.symbol == decision.symbol), None)
    return PortfolioContext(
        equity=snapshot.equity, buying_power=snapshot.buying_power,
        current_exposure=sum((abs(p.market_value) for p in snapshot.positions), Decimal(0)),
        position=PortfolioPosition(symbol=held.symbol, qty=held.qty, market_value=held.market_value) if held else None,
        as_of=snapshot.as_of), snapshot.snapshot_id


def _fill_summary(updates: list[TradeUpdate] | None) -> dict[str, Any] | None:
    if not updates:
        return None
    qty = sum((u.fill_qty or Decimal(0) for u in updates), Decimal(0))
    notional = sum(((u.fill_qty or Decimal(0)) * (u.fill_price or Decimal(0)) for u in updates), Decimal(0))
    return {"qty": str(qty), "avgPrice": str((notional / qty).quantize(Decimal("0.0001"))) if qty else None,
            "fills": len(updates)}


def build_dataset(dump: Path, *, created_at: datetime, config: DatasetConfig | None = None) -> dict[str, Any]:
    """The data set document (see the module doc); :class:`InputError` names a malformed record."""
    config = config or DatasetConfig()
    files = _dump_files(dump)
    tables = _read_tables(files)
    if not tables.decisions:
        raise InputError(f"{dump}: no {topics.DECISIONS.name} records: nothing to label")
    bars = _Bars(dump, config)
    risk_policy = RiskPolicyContext(max_notional_per_trade=Decimal(config.max_notional_per_trade),
                                    max_position_pct_equity=Decimal(config.max_position_pct_equity),
                                    kill_switch_enabled=config.kill_switch_enabled)
    execution = ExecutionContext(primary_adapter=Adapter(config.primary_adapter), mode=config.trading_mode)  # type: ignore[arg-type]
    examples: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for decision_id, (record, decision) in tables.decisions.items():
        found = tables.triggers.get(decision.request_id)
        if found is None:
            raise InputError(f"{record.locator}: decision {decision_id}: request_id {decision.request_id}: no "
                             f"{topics.TRIGGERS.name} record with this request id in the dump")
        trigger_record, trigger = found
        row = bars.rows.get(trigger.symbol, {}).get(trigger.signal_seq)
        if row is None:
            raise InputError(f"{trigger_record.locator}: trigger {trigger.request_id}: signal_seq "
                             f"{trigger.signal_seq}: no {topics.TA_SIGNALS.name} bar of {trigger.symbol} with "
                             "this seq in the dump")
        prices = bars.prices[trigger.symbol]
        ahead = row + config.horizon_bars
        if ahead >= len(prices) or not math.isfinite(float(prices[ahead])):
            excluded.append({"id": decision_id, "reason": "horizon_beyond_data" if ahead >= len(prices)
                             else "horizon_bar_without_price", "record": record.locator.split(" ", 1)[1][1:-1]})
            continue
        examples.append(_example(decision, record, trigger, tables, config, risk_policy, execution,
                                 float(prices[ahead]), float(bars.spreads[trigger.symbol][row]),
                                 bars.event(trigger.symbol, row)))
    examples.sort(key=lambda e: (e["recorded"]["signalEventTs"], e["id"]))
    counts = {"decisions": len(tables.decisions), "examples": len(examples), "excluded": len(excluded),
              "train": sum(e["split"] == "train" for e in examples),
              "eval": sum(e["split"] == "eval" for e in examples),
              "duplicateDecisions": tables.duplicates, "verdictsWithoutDecision": tables.verdicts_without_decision,
              "labels": {a: sum(e["label"]["action"] == a for e in examples) for a in ("buy", "sell", "hold")},
              "firewallVetoed": sum(e["label"]["firewallVetoed"] is True for e in examples),
              "firewallApproved": sum(e["label"]["firewallVetoed"] is False for e in examples)}
    return {
        "schemaVersion": DATASET_SCHEMA, "createdAt": created_at, "programName": PROGRAM_NAME,
        "inputFields": list(INPUT_FIELDS), "outputFields": list(OUTPUT_FIELDS),
        "labelRule": {"name": LABEL_RULE, **config.as_json()},
        "split": {"method": "sha256(id)[:8] / 2^32 < evalFraction -> eval", "evalFraction": config.eval_fraction},
        "source": {"files": [p.name for p in files], "topics": [t.name for t in TOPICS_READ]},
        "counts": counts, "excluded": excluded, "examples": examples,
    }


def _example(decision: Decision, record: _Record, trigger: StrategyTrigger, tables: _Tables, config: DatasetConfig,
             risk_policy: RiskPolicyContext, execution: ExecutionContext, future_price: float,
             bar_spread: float, event: dict[str, Any]) -> dict[str, Any]:
    portfolio, portfolio_source = _portfolio(tables, record, decision, config)
    request = DecisionRequest(
        request_id=trigger.request_id, symbol=trigger.symbol, strategy_id=trigger.strategy_id,
        account=decision.account,
        trigger=TriggerContext(type=trigger.trigger_type, event_ts=trigger.event_ts, source=trigger.source,
                               direction=trigger.direction, price=trigger.price, features=dict(trigger.features)),
        portfolio=portfolio, risk_policy=risk_policy, execution_context=execution, required_domains=None)
    price = float(trigger.price)
    move_bps = (future_price - price) / price * 10_000
    spread = float(trigger.features["spread_bps"]) if "spread_bps" in trigger.features else bar_spread
    if not math.isfinite(spread):
        spread = config.default_spread_bps
    cost_bps = spread + 2 * config.slippage_bps
    right = "buy" if move_bps > cost_bps else "sell" if move_bps < -cost_bps else "hold"
    side = decision.intent.action.value
    verdict = tables.verdicts.get(decision.decision_id)
    vetoed = None if verdict is None or side == "hold" else verdict.outcome is VerdictOutcome.VETO
    action = "hold" if vetoed else right
    qty = 0.0 if action == "hold" else float(max(1, math.floor(float(risk_policy.max_notional_per_trade) / price)))
    rationale = (f"{config.horizon_bars} bars later the price had moved {move_bps:+.1f} bps against "
                 f"{cost_bps:.1f} bps of round-trip costs")
    if vetoed:
        rationale += f"; the risk firewall vetoed the {side}"
    flags = sorted(verdict.reason_codes) if vetoed and verdict is not None else []
    return {
        "id": decision.decision_id, "split": split_of(decision.decision_id, config.eval_fraction),
        "inputs": {"request_json": request.model_dump_json()},
        "label": {"action": action, "qty": qty, "confidence": LABEL_CONFIDENCE, "rationale": rationale,
                  "risk_flags": flags, "rightAction": right, "firewallVetoed": vetoed,
                  "moveBps": round(move_bps, 4), "costBps": round(cost_bps, 4), "janusEvent": event},
        "recorded": {"record": record.locator.split(" ", 1)[1][1:-1], "requestId": trigger.request_id,
                     "symbol": trigger.symbol, "triggerDirection": trigger.direction.value,
                     "signalEventTs": trigger.event_ts, "decisionAction": side,
                     "decisionMode": decision.provenance.mode, "portfolioSource": portfolio_source,
                     "verdict": None if verdict is None else {"outcome": verdict.outcome.value,
                                                              "reasonCodes": list(verdict.reason_codes)},
                     "fill": _fill_summary(tables.fills.get(decision.decision_id))},
    }


def dataset_body(document: dict[str, Any]) -> dict[str, Any]:
    """What the data set hash is taken over: the document without ``createdAt``."""
    return {k: v for k, v in document.items() if k != "createdAt"}


def canonical_chunks(document: dict[str, Any]) -> Iterator[str]:
    """``canonical_json(document)`` in pieces, one example at a time: the same text without holding the
    whole document's encoding at once (a hundred thousand examples encode to millions of small strings)."""
    yield "{"
    for index, key in enumerate(sorted(document)):
        yield ("," if index else "") + json.dumps(key) + ":"
        if key == "examples":
            yield "["
            for number, example in enumerate(document[key]):
                yield ("," if number else "") + canonical_json(example)
            yield "]"
        else:
            yield canonical_json(document[key])
    yield "}"


def dataset_hash(document: dict[str, Any]) -> str:
    """``hash_payload(dataset_body(document))``, computed piecewise."""
    digest = hashlib.sha256()
    for chunk in canonical_chunks(dataset_body(document)):
        digest.update(chunk.encode("ascii"))
    return digest.hexdigest()


def write_dataset(output_dir: Path, document: dict[str, Any]) -> tuple[Path, str]:
    """Write ``dspy-dataset.json`` (canonical JSON) atomically; returns its path and the data set hash."""
    from ..artifacts import RunDirectory

    with RunDirectory(output_dir) as out:
        out.write_bytes(DATASET_FILE, "".join(canonical_chunks(document)).encode("ascii") + b"\n")
        out.commit()
    return output_dir / DATASET_FILE, dataset_hash(document)


def load_dataset(path: Path) -> dict[str, Any]:
    """A data set file, checked for the fields compile needs; :class:`InputError` names the example and field."""
    document = read_json_object(path, "data set")
    if document.get("schemaVersion") != DATASET_SCHEMA:
        raise InputError(f"{path}: not a DSPy data set (schemaVersion must be {DATASET_SCHEMA})")
    examples = document.get("examples")
    if not isinstance(examples, list):
        raise InputError(f"{path}: examples: expected a list")
    for index, example in enumerate(examples):
        where = f"{path}: examples[{index}]"
        if not isinstance(example, dict) or not isinstance(example.get("id"), str):
            raise InputError(f"{where}.id: expected a string")
        where = f"{path}: example {example['id']}"
        if example.get("split") not in ("train", "eval"):
            raise InputError(f"{where}: split: expected train or eval")
        if not isinstance((example.get("inputs") or {}).get("request_json"), str):
            raise InputError(f"{where}: inputs.request_json: expected a string")
        label = example.get("label")
        if not isinstance(label, dict) or label.get("action") not in ("buy", "sell", "hold"):
            raise InputError(f"{where}: label.action: expected buy, sell or hold")
        for name in OUTPUT_FIELDS:
            if name not in label:
                raise InputError(f"{where}: label.{name}: missing")
    return document

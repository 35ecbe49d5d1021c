"""Building the data set document from a dump: every decision labelled, or excluded with its reason."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from torghut_contracts import topics
from torghut_contracts.decision_engine import ExecutionContext, RiskPolicyContext
from torghut_contracts.enums import Adapter

from ...errors import InputError
from .bars import _Bars
from .document import DATASET_SCHEMA, INPUT_FIELDS, LABEL_RULE, OUTPUT_FIELDS, PROGRAM_NAME
from .dump_reading import TOPICS_READ, _dump_files, _read_tables
from .labelling import _example
from .parameters import DatasetConfig


def build_dataset(dump: Path, *, created_at: datetime, config: DatasetConfig | None = None) -> dict[str, Any]:
    """The data set document (see the package doc); :class:`InputError` names a malformed record."""
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

"""The HGRM reward (research-lane.md §5.2) of every out-of-sample decision of the walk-forward.

The decisions are the triggers the walk-forward scored: in each fold, the triggers of the variant
that fold selected, inside its test window (so ``reward_count`` equals the evaluation report's
``decision_count``). Per decision, in order:

1. **event**: the decision's own signal row (a trigger carries it), checked against the decision's
   event time, symbol and seq; a decision that does not match is *unmapped* (expected direction
   neutral, event type ``unclassified_event``, CAR 0).
2. **direction gate** (hard): buy = long, sell = short against the event's CAR direction:
   ``match``, ``mismatch`` or ``neutral`` (the event did not move, or no event).
3. **event-type gate** (soft): the type the decision predicts (its ``trigger_type``: a technical
   rule predicts ``technical_indicator``) against the event's type: ``match``, ``mismatch``, or
   ``unknown`` when it predicts nothing.
4. **cost-aware P&L**: ``side x car - cost``, the cost a round trip at ``position_notional`` under
   the lane's cost model (half spread, slippage, impact, commission at the event's bar and at the
   window's last bar), or ``transaction_cost_bps`` when the config sets one.
5. **magnitude**: ``+|car| x magnitude_match_weight`` for the right direction,
   ``-|car| x magnitude_mismatch_weight`` for the wrong one.
6. **process**: ``process_reward_bonus`` when the decision states its reason (a trigger's rule).
7. **composition**: ``final = G_dir x (G_type x (pnl + magnitude) + process)``, P&L and magnitude
   scaled by ``return_scale``; a direction mismatch is then capped at 0 (the hard gate: the paper
   removes the reward of a wrong direction); clipped to ``[floor, ceil]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..backtest.walkforward import WalkForwardRun
from ..canonical import hash_of
from ..config import Costs, Portfolio
from ..signals import SignalSet
from .events import DIRECTIONS, TECHNICAL, EventTable, event_id, fast_hash, iso_ns, normalise_event_type
from .numbers import decimal_text, ratio_text
from .settings import HgrmConfig

Floats = npt.NDArray[np.float64]

SCHEMA = "janus-hgrm-reward-v1"
REWARD_VERSION = "janus-hgrm-v1"
IMPL_VERSION = "torghut-janus-1.0.0"
ARTIFACT = "gates/janus-hgrm-reward-v1.json"
UNMAPPED = "unmapped"
UNCLASSIFIED = "unclassified_event"
TECHNICAL_RULE_PREFIXES = ("macd", "rsi", "ema", "vwap", "tsmom", "momentum", "mean_reversion")
RECORD_FIELDS = ("reward_id", "fold", "request_id", "event_id", "event_ts", "symbol", "strategy_id", "action",
                 "trigger_type", "mapping", "expected_direction", "event_type", "predicted_event_type",
                 "direction_gate", "direction_gate_value", "event_type_gate", "event_type_gate_value", "car",
                 "cost_bps", "pnl_reward", "magnitude_reward", "process_reward", "final_reward_unclipped",
                 "final_reward", "clipped")


@dataclass(frozen=True)
class Decision:
    """One walk-forward decision: a trigger the backtest scored out of sample."""

    fold: str
    row: int
    request_id: str
    strategy_id: str
    symbol: str
    action: str
    """``buy`` or ``sell``."""
    trigger_type: str
    event_ns: int
    signal_seq: int
    rationale: str | None = None

    @property
    def side(self) -> int:
        return 1 if self.action == "buy" else -1


def walk_forward_decisions(run: WalkForwardRun, signals: SignalSet) -> list[Decision]:
    """Per fold, the selected variant's triggers inside the test window [start, end), as the simulation counts them."""
    event_ns = signals.columns.event_ns
    rows_of: dict[int, npt.NDArray[np.int64]] = {}
    decisions: list[Decision] = []
    for fold, report in zip(run.folds, run.fold_reports, strict=True):
        variant = int(report["selected_variant"])
        triggers = run.variants[variant].triggers
        if variant not in rows_of:
            rows_of[variant] = np.fromiter((t[0] for t in triggers), dtype=np.int64, count=len(triggers))
        times = event_ns[rows_of[variant]] if len(triggers) else np.zeros(0, dtype=np.int64)
        for index in np.flatnonzero((times >= fold.test_start) & (times < fold.test_end)).tolist():
            row, request_id, strategy_id, symbol, direction, trigger_type, _, seq, _ = triggers[index]
            decisions.append(Decision(fold.name, int(row), str(request_id), str(strategy_id), str(symbol),
                                      str(direction), str(trigger_type), int(event_ns[row]), int(seq),
                                      rationale=str(trigger_type)))
    return sorted(decisions, key=lambda d: (d.event_ns, d.symbol, d.strategy_id, d.request_id))


def predicted_event_type(decision: Decision) -> str | None:
    """What a decision says it is trading on: a technical rule predicts ``technical_indicator``."""
    label = normalise_event_type(decision.trigger_type)
    if label is None:
        return None
    return TECHNICAL if label.startswith(TECHNICAL_RULE_PREFIXES) else label


def one_way_cost_bps(signals: SignalSet, rows: npt.NDArray[np.int64], costs: Costs, notional: float) -> Floats:
    """The lane's per-fill cost (backtest/simulate.py) in bps of ``notional``, at each row's bar."""
    price, bid, ask = signals.price[rows], signals.bid[rows], signals.ask[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        quoted = np.where((bid > 0) & (ask >= bid), (ask - bid) / ((ask + bid) / 2) * 1e4, np.nan)
        spread = np.where(np.isnan(quoted), signals.spread_bps[rows], quoted)
        half_spread = np.where(np.isnan(spread), costs.default_spread_bps, spread) / 2
        shares = np.where(price > 0, notional / price, 0.0)
        volume = signals.volume[rows]
        participation = np.where(volume > 0, shares / volume, 0.0)
    impact = np.nan_to_num(participation) * costs.impact_bps_at_full_participation
    commission = np.maximum(notional * costs.commission_bps / 1e4 + shares * costs.commission_per_share,
                            costs.min_commission)
    return np.asarray(half_spread + costs.slippage_bps + impact + commission / notional * 1e4, dtype=np.float64)


@dataclass(frozen=True)
class Components:
    """The reward's parts for every decision, as columns."""

    mapped: npt.NDArray[np.bool_]
    expected: npt.NDArray[np.int64]
    car: Floats
    cost_bps: Floats
    direction_gate: list[str]
    direction_value: Floats
    type_gate: list[str]
    type_value: Floats
    event_types: list[str]
    predicted: list[str | None]
    pnl: Floats
    magnitude: Floats
    process: Floats
    unclipped: Floats
    final: Floats


def score(decisions: list[Decision], events: EventTable, signals: SignalSet, config: HgrmConfig, *,
          costs: Costs, portfolio: Portfolio) -> Components:
    """Steps 1-7 of the module's docstring, vectorised over the decisions."""
    columns = signals.columns
    n_events = len(events)
    rows = np.array([d.row for d in decisions], dtype=np.int64)
    safe = np.clip(rows, 0, max(n_events - 1, 0))
    mapped = np.array([0 <= d.row < n_events and int(columns.event_ns[d.row]) == d.event_ns
                       and int(columns.seq[d.row]) == d.signal_seq and str(columns.symbol[d.row]) == d.symbol
                       for d in decisions], dtype=bool)
    expected = np.where(mapped, events.direction[safe] if n_events else 0, 0).astype(np.int64)
    car = np.where(mapped, events.car[safe] if n_events else 0.0, 0.0)
    side = np.array([d.side for d in decisions], dtype=np.int64)
    match = (expected != 0) & (side == expected)
    mismatch = (expected != 0) & (side != expected)
    direction_value = np.where(match, config.direction_gate_match,
                               np.where(mismatch, config.direction_gate_mismatch, config.direction_gate_neutral))
    event_types = [events.event_type(int(r)) if m else UNCLASSIFIED for r, m in zip(rows, mapped, strict=True)]
    predicted = [predicted_event_type(d) for d in decisions]
    type_gate = ["unknown" if p is None else "match" if p == e else "mismatch"
                 for p, e in zip(predicted, event_types, strict=True)]
    type_value = np.array([{"match": config.event_type_gate_match, "mismatch": config.event_type_gate_mismatch,
                            "unknown": config.event_type_gate_unknown}[g] for g in type_gate], dtype=np.float64)
    if config.transaction_cost_bps is not None:
        cost_bps = np.full(len(decisions), config.transaction_cost_bps, dtype=np.float64)
    elif len(decisions) and n_events:
        notional = portfolio.position_notional
        exit_rows = np.where(mapped, events.end_row[safe], safe)
        cost_bps = (one_way_cost_bps(signals, safe, costs, notional)
                    + one_way_cost_bps(signals, exit_rows, costs, notional))
    else:
        cost_bps = np.zeros(len(decisions))
    scale = config.return_scale
    pnl = scale * (side * car - cost_bps / 1e4)
    magnitude = scale * np.abs(car) * np.where(match, config.magnitude_match_weight,
                                               np.where(mismatch, -config.magnitude_mismatch_weight, 0.0))
    process = np.array([config.process_reward_bonus if (d.rationale or "").strip() else 0.0 for d in decisions],
                       dtype=np.float64)
    unclipped, final = compose(direction_value, type_value, pnl, magnitude, process, mismatch, config)
    direction_gate = ["match" if a else "mismatch" if b else "neutral"
                      for a, b in zip(match.tolist(), mismatch.tolist(), strict=True)]
    return Components(mapped, expected, car, cost_bps, direction_gate, direction_value, type_gate, type_value,
                      event_types, predicted, pnl, magnitude, process, unclipped, final)


def compose(direction_value: Floats, type_value: Floats, pnl: Floats, magnitude: Floats, process: Floats,
            mismatch: npt.NDArray[np.bool_], config: HgrmConfig) -> tuple[Floats, Floats]:
    """Step 7, the hierarchical composition (unclipped, final): shared by the lane's evidence and the DSPy metric."""
    unclipped = direction_value * (type_value * (pnl + magnitude) + process)
    unclipped = np.where(mismatch, np.minimum(unclipped, 0.0), unclipped)
    return unclipped, np.clip(unclipped, config.final_reward_clip_floor, config.final_reward_clip_ceil)


def config_json(config: HgrmConfig, costs: Costs, portfolio: Portfolio) -> dict[str, Any]:
    values = {k: (None if v is None else decimal_text(v)) for k, v in config.model_dump().items()}
    cost_model = None if config.transaction_cost_bps is not None else {
        "source": "lane_cost_model_round_trip", "position_notional": decimal_text(portfolio.position_notional),
        **{k: decimal_text(v) for k, v in costs.model_dump().items()}}
    return {**values, "cost_model": cost_model}


def _records(decisions: list[Decision], parts: Components, signals: SignalSet) -> list[dict[str, Any]]:
    records = []
    ids = {d.row: event_id(signals, d.row) for d, mapped in zip(decisions, parts.mapped.tolist(), strict=True)
           if mapped}
    for i, d in enumerate(decisions):
        numbers = {name: decimal_text(float(getattr(parts, attr)[i])) for name, attr in (
            ("car", "car"), ("cost_bps", "cost_bps"), ("pnl_reward", "pnl"), ("magnitude_reward", "magnitude"),
            ("process_reward", "process"), ("final_reward_unclipped", "unclipped"), ("final_reward", "final"))}
        clipped = bool(parts.final[i] != parts.unclipped[i])
        mapped = bool(parts.mapped[i])
        body = {
            "fold": d.fold, "request_id": d.request_id, "event_id": ids[d.row] if mapped else UNMAPPED,
            "event_ts": iso_ns(d.event_ns), "symbol": d.symbol, "strategy_id": d.strategy_id, "action": d.action,
            "trigger_type": d.trigger_type, "mapping": "exact" if mapped else UNMAPPED,
            "expected_direction": DIRECTIONS[int(parts.expected[i])], "event_type": parts.event_types[i],
            "predicted_event_type": parts.predicted[i], "direction_gate": parts.direction_gate[i],
            "direction_gate_value": decimal_text(parts.direction_value[i]), "event_type_gate": parts.type_gate[i],
            "event_type_gate_value": decimal_text(parts.type_value[i]), **numbers, "clipped": clipped}
        records.append({"reward_id": fast_hash(body)[:24], **body})
    return records


def _mean(values: Floats) -> str:
    return decimal_text(float(np.mean(values))) if len(values) else "0"


def summary(parts: Components) -> dict[str, Any]:
    count = len(parts.final)
    mapped = int(np.count_nonzero(parts.mapped))
    passed = parts.direction_gate.count("match")
    return {
        "reward_count": count, "event_mapped_count": mapped, "event_unmapped_count": count - mapped,
        "direction_gate_pass_count": passed, "hard_gate_fail_count": parts.direction_gate.count("mismatch"),
        "direction_gate_neutral_count": parts.direction_gate.count("neutral"),
        "direction_gate_pass_ratio": ratio_text(passed, count),
        "event_type_match_ratio": ratio_text(parts.type_gate.count("match"), count),
        "clipped_final_reward_count": int(np.count_nonzero(parts.final != parts.unclipped)),
        "mean_final_reward": _mean(parts.final), "sum_final_reward": decimal_text(float(np.sum(parts.final))),
        "mean_pnl_reward": _mean(parts.pnl), "mean_cost_bps": _mean(parts.cost_bps),
    }


def manifest_hash(body: dict[str, Any]) -> str:
    return fast_hash({"event_manifest_hash": body["lineage"]["event_manifest_hash"], "summary": body["summary"],
                      "rewards": body["rewards"]})


def build_hgrm_artifact(decisions: list[Decision], events: EventTable, signals: SignalSet, config: HgrmConfig, *,
                        costs: Costs, portfolio: Portfolio, event_car: dict[str, Any], run_id: str,
                        candidate_id: str, generated_at: str, parent: str, parent_sha256: str,
                        decisions_sha256: str | None = None) -> dict[str, Any]:
    """``gates/janus-hgrm-reward-v1.json``."""
    parts = score(decisions, events, signals, config, costs=costs, portfolio=portfolio)
    settings = config_json(config, costs, portfolio)
    snapshot = [[iso_ns(d.event_ns), d.symbol, d.strategy_id, d.action, d.signal_seq, d.request_id, d.fold]
                for d in decisions]
    body: dict[str, Any] = {
        "schema_version": SCHEMA, "run_id": run_id, "candidate_id": candidate_id, "generated_at": generated_at,
        "reward_version": REWARD_VERSION, "chain": {"parent": parent, "parent_sha256": parent_sha256},
        "decision_source": "walk_forward_out_of_sample_triggers", "reward_config": settings,
        "composition": "final = clip(G_dir * (G_type * (pnl + magnitude) + process)); direction mismatch capped at 0",
        "lineage": {"event_manifest_hash": event_car["manifest_hash"],
                    "decision_snapshot_hash": hash_of(snapshot), "walkforward_results_sha256": decisions_sha256,
                    "schema_hash": hash_of({"schema_version": SCHEMA, "record_fields": list(RECORD_FIELDS)}),
                    "generation_code_hash": hash_of({"impl_version": IMPL_VERSION,
                                                     "function": "torghut_research.janus.hgrm.score"}),
                    "run_config_hash": hash_of(settings)},
        "summary": summary(parts), "rewards": _records(decisions, parts, signals),
    }
    body["manifest_hash"] = manifest_hash(body)
    return body

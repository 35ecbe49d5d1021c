"""The demo's tally and P&L arithmetic, and the committed dataset's provenance."""

from __future__ import annotations

from decimal import Decimal

from torghut_cli.demo import make_dataset
from torghut_cli.demo.report import PipelineTally
from torghut_contracts import topics
from torghut_contracts.examples import example

D = Decimal


def test_tally_counts_stages_and_finds_a_complete_chain() -> None:
    tally = PipelineTally()
    headers = {"x-correlation-id": "req-1"}
    for spec in (topics.TA_SIGNALS, topics.TRIGGERS, topics.DECISIONS, topics.RISK_VERDICTS, topics.ORDERS_APPROVED):
        tally.add(spec.name, headers, spec.encode(example(spec.name)))
    assert tally.complete_chain() is None, "no fill yet"
    fill = example(topics.TRADE_UPDATES.name)
    tally.add(topics.TRADE_UPDATES.name, headers, topics.TRADE_UPDATES.encode(fill))
    tally.add(topics.TRADE_UPDATES.name, headers, topics.TRADE_UPDATES.encode(fill))  # a duplicate delivery
    tally.add(topics.DECISIONS.name + ".dlq", {}, b"{bad")
    assert tally.complete_chain() == "req-1"
    assert tally.counts["fills"] == 1 and tally.counts["duplicate_trade_updates"] == 1
    assert tally.books["NVDA"].qty == D(10)
    assert tally.marks["NVDA"] == example(topics.TA_SIGNALS.name).mark_price
    assert tally.veto_reasons["kill_switch_enabled"] == 1
    assert tally.dead_letters[topics.DECISIONS.name] == 1


def test_the_committed_dataset_is_what_the_generator_produces() -> None:
    bars_csv, signals_jsonl, quotes_csv = make_dataset.build()
    directory = make_dataset.DATASET_DIR
    assert (directory / f"bars-{make_dataset.SESSION_DATE}.csv").read_text() == bars_csv
    assert (directory / f"signals-{make_dataset.SESSION_DATE}.jsonl").read_text() == signals_jsonl
    assert (directory / f"quotes-{make_dataset.SESSION_DATE}.csv").read_text() == quotes_csv
    signals = [topics.TA_SIGNALS.decode(line) for line in signals_jsonl.splitlines()]
    assert len(signals) == 390 * len(make_dataset.INSTRUMENTS)
    assert sum(1 for s in signals if s.macd is None) == 33 * len(make_dataset.INSTRUMENTS)


def test_with_a_model_in_the_loop_reviews_are_told_apart_by_their_reason_codes() -> None:
    tally = PipelineTally()
    decision = example(topics.DECISIONS.name)
    reviewed = decision.provenance.model_copy(update={"mode": "dspy"})
    for provenance, codes in ((reviewed, []), (reviewed, ["llm_hold"]), (reviewed, ["size_zero"]),
                              (decision.provenance.model_copy(update={"mode": "fallback"}), ["llm_error"]),
                              (decision.provenance.model_copy(update={"mode": "fallback"}), ["llm_parse_error"]),
                              (decision.provenance, ["size_zero"])):  # deterministic: no model involved
        message = decision.model_copy(update={"provenance": provenance, "reason_codes": codes})
        tally.add(topics.DECISIONS.name, {}, topics.DECISIONS.encode(message))
    assert dict(tally.llm_reviews) == {"reviewed": 5, "agreed": 2, "disagreed: llm_hold": 1,
                                       "failed: llm_error": 1, "failed: llm_parse_error": 1}

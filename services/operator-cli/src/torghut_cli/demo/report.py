"""What the demo saw: a tally of every output topic, and the end-of-session report.

Pure: it folds records (topic, headers, value) into counts, positions and P&L, so the same code
reports a live demo and a replayed dump.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import ValidationError
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.average_cost import SymbolBook
from torghut_contracts.enums import FILL_EVENTS, VerdictOutcome
from torghut_contracts.models import TradeUpdate

CHAIN = ("triggers", "decisions", "verdicts", "orders", "fills")
LLM_FAILED = frozenset({"llm_parse_error", "llm_error"})
LLM_DISAGREED = frozenset({"llm_hold", "llm_direction_conflict", "llm_low_confidence"})


@dataclass
class PipelineTally:
    counts: Counter[str] = field(default_factory=Counter)
    decisions_by_action: Counter[str] = field(default_factory=Counter)
    verdicts_by_outcome: Counter[str] = field(default_factory=Counter)
    veto_reasons: Counter[str] = field(default_factory=Counter)
    trade_events: Counter[str] = field(default_factory=Counter)
    llm_reviews: Counter[str] = field(default_factory=Counter)
    """With a model in the loop: decisions it reviewed, agreed with, disagreed with (a hold) and failed on."""
    dead_letters: Counter[str] = field(default_factory=Counter)
    books: dict[str, SymbolBook] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    """Each symbol's latest signal price, what open positions are marked at."""
    chains: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _fingerprints: set[str] = field(default_factory=set)

    def add(self, topic: str, headers: dict[str, str], value: bytes) -> None:
        if topic.endswith(".dlq"):
            self.dead_letters[topic.removesuffix(".dlq")] += 1
            return
        spec = topics.BY_NAME.get(topic)
        if spec is None:
            return
        try:
            message = spec.decode(value)
        except ValidationError:
            return
        correlation = headers.get(h.CORRELATION_ID)
        if spec is topics.TA_SIGNALS:
            self.counts["signals"] += 1
            if message.mark_price is not None:
                self.marks[message.symbol] = message.mark_price
            return
        if spec is topics.TRIGGERS:
            self._count("triggers", correlation)
        elif spec is topics.DECISIONS:
            self._count("decisions", correlation)
            self.decisions_by_action[message.intent.action.value] += 1
            codes = set(message.reason_codes)
            if message.provenance.mode == "dspy" or codes & LLM_FAILED:  # a failed review says "fallback"
                self._llm_review(codes)
        elif spec is topics.RISK_VERDICTS:
            self._count("verdicts", correlation)
            self.verdicts_by_outcome[message.outcome.value] += 1
            if message.outcome is VerdictOutcome.VETO:
                self.veto_reasons.update(message.reason_codes)
        elif spec is topics.ORDERS_APPROVED:
            self._count("orders", correlation)
        elif spec is topics.TRADE_UPDATES:
            self._trade_update(message, correlation)

    def _llm_review(self, codes: set[str]) -> None:
        self.llm_reviews["reviewed"] += 1
        failed, disagreed = codes & LLM_FAILED, codes & LLM_DISAGREED
        self.llm_reviews.update(f"failed: {code}" for code in failed)
        self.llm_reviews.update(f"disagreed: {code}" for code in disagreed)
        if not failed and not disagreed:
            self.llm_reviews["agreed"] += 1

    def _count(self, stage: str, correlation: str | None) -> None:
        self.counts[stage] += 1
        if correlation:
            self.chains[correlation].add(stage)

    def _trade_update(self, update: TradeUpdate, correlation: str | None) -> None:
        if update.fingerprint in self._fingerprints:
            self.counts["duplicate_trade_updates"] += 1
            return
        self._fingerprints.add(update.fingerprint)
        self.trade_events[update.event.value] += 1
        if update.event in FILL_EVENTS and update.fill_qty and update.fill_price:
            self._count("fills", correlation)
            symbol = update.order.symbol
            self.books[symbol] = self.books.get(symbol, SymbolBook()).after_fill(update.order.side, update.fill_qty,
                                                                                 update.fill_price)

    def complete_chain(self) -> str | None:
        """A correlation id that reached every stage, signal trigger to fill."""
        for correlation, stages in sorted(self.chains.items()):
            if all(stage in stages for stage in CHAIN):
                return correlation
        return None

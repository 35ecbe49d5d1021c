"""Pure rules of replay: which records a window keeps, how loads are paced, what may be written.

Kept free of I/O so the rules are tested as tables; ``kafka_io`` applies them to a real broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from torghut_contracts import headers as h
from torghut_contracts.topics import ALL_TOPICS, DLQ_SUFFIX

PRODUCTION_TOPICS = frozenset(spec.name for spec in ALL_TOPICS) | frozenset(
    spec.name + DLQ_SUFFIX for spec in ALL_TOPICS)
DEFAULT_SANDBOX_PREFIX = "sandbox.{name}."


class ProductionTopicRefused(ValueError):
    """Writing into a production topic needs ``--force``."""


def guard_target(topic: str, *, force: bool) -> None:
    if topic in PRODUCTION_TOPICS and not force:
        raise ProductionTopicRefused(
            f"refusing to write into production topic {topic!r}; use a sandbox prefix "
            f"(e.g. sandbox.<name>.{topic}) or pass --force")


def sandbox_name(prefix: str, topic: str) -> str:
    if not prefix.endswith("."):
        prefix += "."
    return prefix + topic


@dataclass(frozen=True)
class Window:
    """A slice of a topic: by offsets (inclusive start, exclusive end) and/or by record time."""

    start_offset: int | None = None
    end_offset: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    key: str | None = None
    header_equals: Mapping[str, str] = field(default_factory=dict)

    def admits(self, *, offset: int, timestamp_ms: int, key: str | None, headers: Mapping[str, str]) -> bool:
        # Tansu's offsets_for_times searches by arrival time, so the seek is only coarse: the
        # record's own timestamp decides.
        if self.start_offset is not None and offset < self.start_offset:
            return False
        if self.end_offset is not None and offset >= self.end_offset:
            return False
        if self.since_ms is not None and timestamp_ms < self.since_ms:
            return False
        if self.until_ms is not None and timestamp_ms >= self.until_ms:
            return False
        if self.key is not None and key != self.key:
            return False
        return all(headers.get(k) == v for k, v in self.header_equals.items())

    def past_end(self, *, offset: int, timestamp_ms: int) -> bool:
        """True once a partition can yield nothing more for this window."""
        if self.end_offset is not None and offset >= self.end_offset - 1:
            return True
        return self.until_ms is not None and timestamp_ms >= self.until_ms


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; give one, e.g. 2026-02-12T15:30:00Z")
    return int(moment.timestamp() * 1000)


def provenance_headers(headers: Mapping[str, str], *, topic: str, partition: int, offset: int) -> dict[str, str]:
    """The record's headers plus where it came from; an earlier provenance is kept, not overwritten."""
    out = dict(headers)
    out.setdefault(h.REPLAY_ORIGINAL_TOPIC, topic)
    out.setdefault(h.REPLAY_ORIGINAL_PARTITION, str(partition))
    out.setdefault(h.REPLAY_ORIGINAL_OFFSET, str(offset))
    return out


def pacing_delays(timestamps_ms: Iterable[int], speed: float | None) -> Iterator[float]:
    """Seconds to wait before each record: none as fast as possible, else original spacing / speed.

    Out-of-order timestamps never produce a negative wait.
    """
    previous: int | None = None
    for ts in timestamps_ms:
        if speed is None or previous is None:
            yield 0.0
        else:
            yield max(0, ts - previous) / 1000 / speed
        previous = ts if previous is None else max(previous, ts)

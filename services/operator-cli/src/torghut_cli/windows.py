"""Pure rules of replay: how loads are paced, what may be written, where a copy comes from.

Kept free of I/O so the rules are tested as tables; ``kafka_io`` applies them to a real broker.
Which records a window keeps is :class:`torghut_runtime.topic_window.Window`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

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

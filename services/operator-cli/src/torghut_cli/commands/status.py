"""``torghut status``: the health of every service, consumer lag and dead letters."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
from rich.table import Column, Table
from torghut_contracts import topics

from .. import kafka_io
from ..broker_address import resolve_bootstrap
from ..consoles import out
from ..errors import CliError

SERVICES_FILE = Path(".torghut/demo/services.json")


def _service_urls(args: argparse.Namespace) -> dict[str, str]:
    urls: dict[str, str] = {}
    if SERVICES_FILE.exists():
        urls.update({name: spec["url"] for name, spec in json.loads(SERVICES_FILE.read_text()).items()})
    for item in args.service or []:
        name, _, url = item.partition("=")
        if not url:
            raise CliError(f"--service takes name=url, got {item!r}")
        urls[name] = url
    return urls


async def cmd_status(args: argparse.Namespace) -> int:
    bootstrap = resolve_bootstrap(args.bootstrap)
    health = Table("service", "healthz", "readyz", "url", title="services")
    failing = 0
    async with httpx.AsyncClient(timeout=3.0) as client:
        for name, url in sorted(_service_urls(args).items()):
            states = []
            for probe in ("healthz", "readyz"):
                try:
                    response = await client.get(f"{url.rstrip('/')}/{probe}")
                    states.append("ok" if response.status_code == 200 else f"{response.status_code} {response.text}")
                except httpx.HTTPError as exc:
                    states.append(f"down ({type(exc).__name__})")
            failing += any(s != "ok" for s in states)
            health.add_row(name, *states, url)
    out.print(health)

    # Group and topic names are what an operator greps for: fold them, never cut them short.
    lag_table = Table(Column("consumer group", overflow="fold"), Column("topic", overflow="fold"), "lag by partition",
                      "total", title="consumer lag")
    for group in await kafka_io.list_groups(bootstrap):
        topic = _topic_of_group(group)
        group_topics = [topic] if topic is not None else await kafka_io.committed_topics(
            bootstrap, group, _candidate_topics(group))
        for topic in group_topics:
            lag = await kafka_io.group_lag(bootstrap, group, topic)
            total = sum(v for v in lag.values() if v is not None)
            lag_table.add_row(group, topic, " ".join(f"{p}:{'-' if v is None else v}" for p, v in lag.items()),
                              str(total))
    out.print(lag_table)

    # What was refused after it was taken in: records that went to a dead-letter topic.
    dead_table = Table(Column("dead-letter topic", overflow="fold"), "records", title="dead letters")
    for name, held in (await kafka_io.dead_letter_counts(bootstrap)).items():
        dead_table.add_row(name, str(held))
    out.print(dead_table if dead_table.row_count else "dead letters: none")
    return 1 if failing else 0


def _candidate_topics(group: str) -> list[str]:
    """A shared consumer's group ``[<topic prefix>]<service>.<name>`` may read any topic under its prefix."""
    parts = group.rsplit(".", 2)  # service and consumer names have no dots
    prefix = parts[0] + "." if len(parts) == 3 else ""
    return [prefix + spec.name for spec in topics.ALL_TOPICS]


def _topic_of_group(group: str) -> str | None:
    """Service groups are named ``[<topic prefix>]<service>.<topic>`` by the runtime."""
    for spec in topics.ALL_TOPICS:
        if group.endswith("." + spec.name):
            head = group[: -len(spec.name) - 1]  # [<prefix>]<service>; service names have no dots
            prefix = head.rsplit(".", 1)[0] + "." if "." in head else ""
            return prefix + spec.name
    return None


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="health of every service and consumer lag")
    status.add_argument("--service", action="append", metavar="NAME=URL")

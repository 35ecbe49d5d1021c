"""``torghut topics`` and ``torghut tail``: list and describe topics, print one as JSON lines."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table
from torghut_contracts import topics

from .. import kafka_io
from ..broker_address import resolve_bootstrap
from ..consoles import out


async def cmd_topics(args: argparse.Namespace) -> int:
    bootstrap = resolve_bootstrap(args.bootstrap)
    if args.action == "list":
        table = Table("topic", "partitions", "key", "model", title="topics")
        for name, partitions in (await kafka_io.list_topics(bootstrap)).items():
            spec = topics.BY_NAME.get(name)
            table.add_row(name, str(partitions), spec.key_field if spec else "", spec.model.__name__ if spec else "")
        out.print(table)
        return 0
    offsets = await kafka_io.describe_topic(bootstrap, args.name)
    spec = topics.BY_NAME.get(args.name) or topics.BY_NAME.get(args.name.removesuffix(".dlq"))
    info: dict[str, Any] = {"topic": args.name, "partitions": [
        {"partition": o.partition, "beginning": o.beginning, "end": o.end, "messages": o.end - o.beginning}
        for o in offsets]}
    if spec is not None:
        info.update(key=spec.key_field, model=spec.model.__name__, config=spec.config, description=spec.description)
    out.print_json(json.dumps(info))
    return 0


async def cmd_tail(args: argparse.Namespace) -> int:
    bootstrap = resolve_bootstrap(args.bootstrap)
    async for record in kafka_io.tail(bootstrap, args.topic, from_beginning=args.from_beginning, limit=args.n,
                                      idle_timeout_s=args.idle_timeout):
        line = json.dumps(record.as_json(), indent=2 if args.pretty else None, ensure_ascii=False)
        print(line, flush=True)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topics_parser = sub.add_parser("topics", help="list or describe topics")
    topics_sub = topics_parser.add_subparsers(dest="action", required=True)
    topics_sub.add_parser("list")
    describe = topics_sub.add_parser("describe")
    describe.add_argument("name")

    tail = sub.add_parser("tail", help="print a topic as JSON lines")
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("-n", type=int, help="stop after N records")
    tail.add_argument("--idle-timeout", type=float, help="stop after this many seconds without a record")
    tail.add_argument("--pretty", action="store_true")

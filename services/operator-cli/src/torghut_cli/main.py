"""``torghut``: status, kill switch, trading state, topics, tail, replay, flags."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table
from torghut_contracts import topics
from torghut_contracts.enums import TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GLOBAL_SCOPE, ControlCommand
from torghut_runtime.topic_window import RawRecord, Window, WindowReadError, read_window, to_ms

from . import kafka_io
from .control import latest_by_scope, next_command
from .windows import (
    DEFAULT_SANDBOX_PREFIX,
    ProductionTopicRefused,
    guard_target,
    provenance_headers,
    sandbox_name,
)

STACK_ENV = Path(".torghut/infra/stack.env")
SERVICES_FILE = Path(".torghut/demo/services.json")
err = Console(stderr=True)
out = Console()


class CliError(Exception):
    """A problem the operator can fix; printed without a traceback, exit code 2."""


def resolve_bootstrap(flag: str | None) -> str:
    if flag:
        return flag
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    if STACK_ENV.exists():
        for line in STACK_ENV.read_text().splitlines():
            if line.startswith("KAFKA_BOOTSTRAP_SERVERS="):
                return line.split("=", 1)[1].strip()
    raise CliError("no broker: pass --bootstrap, set KAFKA_BOOTSTRAP_SERVERS, or start `make infra`")


# -- control -----------------------------------------------------------------------------------
async def read_control(bootstrap: str) -> dict[str, ControlCommand]:
    commands = []
    async for record in kafka_io.tail(bootstrap, topics.CONTROL.name, from_beginning=True, limit=None,
                                      idle_timeout_s=0.6):
        try:
            commands.append(topics.CONTROL.decode(record.value))
        except ValidationError:
            continue  # a malformed control record is the DLQ's business, not the operator's view
    return latest_by_scope(commands)


async def publish_control(bootstrap: str, command: ControlCommand) -> None:
    record = RawRecord(topics.CONTROL.name, 0, -1, 0, command.scope,
                       MessageHeaders.new(topics.CONTROL.name).as_dict(), topics.CONTROL.encode(command))
    await kafka_io.produce_records(bootstrap, [(topics.CONTROL.name, record)], speed=None)


async def cmd_control(args: argparse.Namespace) -> int:
    bootstrap = resolve_bootstrap(args.bootstrap)
    current = await read_control(bootstrap)
    if args.command == "control":
        _print_control(current)
        return 0
    if args.command == "kill-switch":
        command = next_command(current.get(args.scope), scope=args.scope, kill_switch=args.state == "on",
                               reason=args.reason)
    else:
        command = next_command(current.get(args.scope), scope=args.scope, trading_state=TradingState(args.state),
                               reason=args.reason)
    await publish_control(bootstrap, command)
    current[command.scope] = command
    _print_control(current)
    return 0


def _print_control(current: dict[str, ControlCommand]) -> None:
    table = Table("scope", "kill switch", "trading state", "reason", "issued at", "by", title="control")
    if GLOBAL_SCOPE not in current:
        table.add_row(GLOBAL_SCOPE, "ON (default)", "ACTIVE", "no command yet", "", "")
    for scope, c in sorted(current.items()):
        table.add_row(scope, "ON" if c.kill_switch else "off", c.trading_state.value, c.reason,
                      c.issued_at.isoformat(), c.issued_by)
    out.print(table)


# -- status ------------------------------------------------------------------------------------
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


# -- topics and tail ---------------------------------------------------------------------------
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


# -- replay ------------------------------------------------------------------------------------
def _window(args: argparse.Namespace) -> Window:
    headers: dict[str, str] = {}
    for item in args.header or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--header takes name=value, got {item!r}")
        headers[name] = value
    try:
        since = to_ms(datetime.fromisoformat(args.since)) if args.since else None
        until = to_ms(datetime.fromisoformat(args.until)) if args.until else None
    except ValueError as exc:
        raise CliError(f"bad --since/--until: {exc}") from None
    return Window(start_offset=args.from_offset, end_offset=args.to_offset, since_ms=since, until_ms=until,
                  key=args.key, header_equals=headers)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True)


async def cmd_replay(args: argparse.Namespace) -> int:
    bootstrap = resolve_bootstrap(args.bootstrap)
    if args.action == "dump":
        window = _window(args)
        count = 0
        with _progress() as progress, open(args.out, "w", encoding="utf-8") as sink:
            task = progress.add_task(f"dump {args.topic}", total=None)
            def show(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            async for record in read_window(bootstrap, args.topic, window, on_progress=show):
                sink.write(json.dumps(record.as_json(), ensure_ascii=False) + "\n")
                count += 1
        err.print(f"dumped {count} records from {args.topic} to {args.out}")
        return 0

    if args.action == "load":
        guard_target(args.topic, force=args.force)
        records = []
        for number, line in enumerate(Path(args.file).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = RawRecord.from_json(json.loads(line))
            except (json.JSONDecodeError, KeyError, ValueError) as exc:
                raise CliError(f"{args.file}:{number}: not a dumped record ({exc})") from None
            headers = provenance_headers(record.headers, topic=record.topic, partition=record.partition,
                                         offset=record.offset)
            records.append((args.topic, RawRecord(record.topic, record.partition, record.offset,
                                                  record.timestamp_ms, record.key, headers, record.value)))
        with _progress() as progress:
            task = progress.add_task(f"load → {args.topic}", total=len(records))
            sent = await kafka_io.produce_records(bootstrap, records, speed=None if args.asap else args.speed,
                                                  on_progress=lambda n: progress.update(task, completed=n))
        err.print(f"loaded {sent} records into {args.topic}")
        return 0

    # copy
    prefix = args.prefix or DEFAULT_SANDBOX_PREFIX.format(name=args.name)
    target = sandbox_name(prefix, args.topic)
    guard_target(target, force=args.force)
    window = _window(args)
    copied = []
    with _progress() as progress:
        task = progress.add_task(f"read {args.topic}", total=None)
        async for record in read_window(
                bootstrap, args.topic, window, on_progress=lambda d, t: progress.update(task, completed=d, total=t)):
            headers = provenance_headers(record.headers, topic=record.topic, partition=record.partition,
                                         offset=record.offset)
            copied.append((target, RawRecord(record.topic, record.partition, record.offset,
                                             record.timestamp_ms, record.key, headers, record.value)))
        task = progress.add_task(f"write {target}", total=len(copied))
        sent = await kafka_io.produce_records(bootstrap, copied, speed=None,
                                              on_progress=lambda n: progress.update(task, completed=n))
    err.print(f"copied {sent} records from {args.topic} to {target}")
    return 0


# -- parser ------------------------------------------------------------------------------------
def _add_window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-offset", type=int, help="first offset (inclusive), every partition")
    parser.add_argument("--to-offset", type=int, help="last offset (exclusive), every partition")
    parser.add_argument("--since", help="ISO time with zone, by record timestamp (inclusive)")
    parser.add_argument("--until", help="ISO time with zone, by record timestamp (exclusive)")
    parser.add_argument("--key", help="only records with this key")
    parser.add_argument("--header", action="append", metavar="NAME=VALUE", help="only records with this header")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torghut", description=__doc__)
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or "
                                            ".torghut/infra/stack.env)")
    sub = parser.add_subparsers(dest="command", required=True)

    status = sub.add_parser("status", help="health of every service and consumer lag")
    status.add_argument("--service", action="append", metavar="NAME=URL")

    sub.add_parser("control", help="show the kill switch and trading state per scope")
    kill = sub.add_parser("kill-switch", help="turn the kill switch on or off")
    kill.add_argument("state", choices=("on", "off"))
    state = sub.add_parser("trading-state", help="set ACTIVE, REDUCING or HALTED")
    state.add_argument("state", choices=[s.value for s in TradingState])
    for p in (kill, state):
        p.add_argument("--scope", default=GLOBAL_SCOPE, help="'global' or an account id")
        p.add_argument("--reason", default="", help="why (kept on the compacted topic)")

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

    replay = sub.add_parser("replay", help="dump, load or copy a topic window")
    replay_sub = replay.add_subparsers(dest="action", required=True)
    dump = replay_sub.add_parser("dump", help="a topic window to a JSONL file")
    dump.add_argument("topic")
    dump.add_argument("--out", required=True)
    _add_window(dump)
    load = replay_sub.add_parser("load", help="a JSONL file into a topic")
    load.add_argument("file")
    load.add_argument("--topic", required=True)
    pace = load.add_mutually_exclusive_group()
    pace.add_argument("--asap", action="store_true", help="as fast as possible (default)")
    pace.add_argument("--speed", type=float, help="original spacing divided by this factor")
    load.add_argument("--force", action="store_true", help="allow writing into a production topic")
    copy = replay_sub.add_parser("copy", help="a topic window into a sandbox prefix")
    copy.add_argument("topic")
    copy.add_argument("--name", default="replay", help="sandbox name: prefix sandbox.<name>.")
    copy.add_argument("--prefix", help="explicit prefix instead of sandbox.<name>.")
    copy.add_argument("--force", action="store_true", help="allow writing into a production topic")
    _add_window(copy)

    flags = sub.add_parser("flags", help="every feature flag: value at the flag server, default, safe value, "
                                         "source (server or fallback) and the service setting it maps to")
    flags.add_argument("--flags-url", help="Flipt base URL (default: $TRADING_FEATURE_FLAGS_URL); "
                                           "namespace and token from TRADING_FEATURE_FLAGS_*")
    flags.add_argument("--json", action="store_true", help="print JSON instead of a table")

    demo = sub.add_parser("demo", help="run the whole suite on embedded infrastructure and replay a session")
    demo.add_argument("--workdir", default=".torghut/demo")
    demo.add_argument("--speed", type=float, default=600.0,
                      help="replay at the session's original spacing / SPEED (default 600: 6.5 hours in ~40 s)")
    demo.add_argument("--asap", dest="speed", action="store_const", const=None,
                      help="replay as fast as possible (the firewall then sees prices ahead of decisions)")
    demo.add_argument("--quiet-seconds", type=float, default=6.0, help="end after this long with no new message")
    return parser


# -- feature flags -----------------------------------------------------------------------------
async def evaluate_flags(url: str) -> list[dict[str, Any]]:
    """Every flag as each service it maps to would see it now (the ``service`` context attribute is the
    service's name, so a per-service rollout shows), with the same fallback rules as the services."""
    from torghut_runtime.flags import FeatureFlags, Flag, load_flag_settings

    try:
        settings = load_flag_settings(enabled=True, url=url)
    except Exception as exc:
        raise CliError(str(exc)) from None
    rows: list[dict[str, Any]] = []
    services = sorted({t.service for f in Flag for t in f.spec.targets})
    for service in services:
        mine = Flag.for_service(service)
        flags = FeatureFlags(settings, {f: f.spec.default for f in mine}, service=service)
        await flags.start()
        await flags.stop()
        for flag in mine:
            target = next(t for t in flag.spec.targets if t.service == service)
            rows.append({"flag": flag.key, "service": service, "setting": target.setting.upper()
                         if target.match == "env_true" else target.setting, "value": flags.value(flag),
                         "source": flags.source(flag), "default": flag.spec.default, "safe": flag.spec.safe,
                         "loosens_safety": flag.spec.loosens_safety})
    order = {f.key: i for i, f in enumerate(Flag)}
    return sorted(rows, key=lambda r: (order[r["flag"]], r["service"]))


async def cmd_flags(args: argparse.Namespace) -> int:
    url = args.flags_url or os.environ.get("TRADING_FEATURE_FLAGS_URL")
    if not url:
        raise CliError("no flag server: pass --flags-url or set TRADING_FEATURE_FLAGS_URL")
    rows = await evaluate_flags(url)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(Column("flag", no_wrap=True), "service: setting", "value", "source", "default", "safe",
                  title=f"feature flags at {url}")
    for row in rows:
        value = "[green]on[/]" if row["value"] else "[red]off[/]"
        source = row["source"] if row["source"] == "server" else f"[yellow]{row['source']}[/]"
        table.add_row(row["flag"] + (" [dim](loosens safety)[/]" if row["loosens_safety"] else ""),
                      f"{row['service']}: {row['setting']}", value, source,
                      "on" if row["default"] else "off", "on" if row["safe"] else "off")
    out.print(table)
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from .demo.runner import run_demo

    return await run_demo(Path(args.workdir), None if args.speed is None else args.speed, args.quiet_seconds)


COMMANDS = {"demo": cmd_demo, "status": cmd_status, "control": cmd_control, "kill-switch": cmd_control,
            "trading-state": cmd_control, "topics": cmd_topics, "tail": cmd_tail, "replay": cmd_replay,
            "flags": cmd_flags}


def _quiet_library_logs() -> None:
    """The libraries the CLI uses (the flag client, the runtime) log with structlog: errors only, to
    the stderr of the moment (a stream bound now could be closed by the time a log line comes), so
    stdout carries only the command's table or JSON."""
    import logging

    import structlog

    structlog.configure(logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
                        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_library_logs()
    if getattr(args, "speed", None) is not None and args.speed <= 0:
        err.print("--speed must be greater than zero")
        return 2
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except (CliError, ProductionTopicRefused, LookupError, WindowReadError) as exc:
        err.print(f"torghut: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

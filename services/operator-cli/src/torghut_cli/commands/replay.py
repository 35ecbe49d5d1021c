"""``torghut replay``: dump a topic window to a file, load a file into a topic, copy a window into a sandbox."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torghut_runtime.topic_window import RawRecord, Window, read_window, to_ms

from .. import kafka_io
from ..broker_address import resolve_bootstrap
from ..consoles import err
from ..errors import CliError
from ..windows import DEFAULT_SANDBOX_PREFIX, guard_target, provenance_headers, sandbox_name


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
        return await _dump(bootstrap, args)
    if args.action == "load":
        return await _load(bootstrap, args)
    return await _copy(bootstrap, args)


async def _dump(bootstrap: str, args: argparse.Namespace) -> int:
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


async def _load(bootstrap: str, args: argparse.Namespace) -> int:
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


async def _copy(bootstrap: str, args: argparse.Namespace) -> int:
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


def _add_window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-offset", type=int, help="first offset (inclusive), every partition")
    parser.add_argument("--to-offset", type=int, help="last offset (exclusive), every partition")
    parser.add_argument("--since", help="ISO time with zone, by record timestamp (inclusive)")
    parser.add_argument("--until", help="ISO time with zone, by record timestamp (exclusive)")
    parser.add_argument("--key", help="only records with this key")
    parser.add_argument("--header", action="append", metavar="NAME=VALUE", help="only records with this header")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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

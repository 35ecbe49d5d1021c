"""``torghut-infra``: start, inspect and stop the embedded stack from a shell.

``up`` detaches by default (the servers outlive the command; ``down`` stops them by PID from
``stack.json``). ``up --foreground`` keeps the servers tied to the command and stops them on
Ctrl-C / SIGTERM, or as soon as one of them dies (printing its log tail).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ._aio import run_blocking
from .errors import EmbeddedError, log_tail
from .kafka import create_default_topics
from .stack import EmbeddedStack
from .stack_record import StackInfo, read_stack, stop_stack

DEFAULT_DATA_DIR = ".torghut/infra"
DEFAULT_FLAGS_FILE = Path("deploy/flags/features.yaml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torghut-infra",
        description="Embedded Tansu (Kafka) + Postgres (+ a Flipt-compatible flag server) on loopback, no Docker."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack and create the v1 topics")
    down = sub.add_parser("down", aliases=["stop"], help="stop, by PID, the stack recorded in the data dir")
    status = sub.add_parser("status", help="show what runs where; exit 1 unless everything answers")
    for p in (up, down, status):
        p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, type=Path, help=f"default {DEFAULT_DATA_DIR}")
    up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops everything")
    up.add_argument("--kafka-port", type=int, default=0, help="default: a free port")
    up.add_argument("--postgres-port", type=int, default=0, help="default: a free port")
    up.add_argument("--no-topics", action="store_true", help="do not create the contracts' topics")
    up.add_argument("--flags-file", type=Path, default=None,
                    help=f"features.yaml for the Flipt-compatible flag server (default: {DEFAULT_FLAGS_FILE})")
    up.add_argument("--flags-port", type=int, default=0, help="default: a free port")
    up.add_argument("--no-flags", action="store_true", help="do not start the flag server")
    up.add_argument("--timeout", type=float, default=30.0, help="seconds each server may take to answer")
    return parser


def _port_open(endpoint: str | None) -> bool:
    if not endpoint:
        return False
    host, _, port = endpoint.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _describe(info: StackInfo) -> str:
    alive = info.alive()
    endpoints = {"kafka": info.kafka_bootstrap, "postgres": _pg_endpoint(info.database_url),
                 "flags": info.flags_url}
    lines = [f"data dir   {info.data_dir}  (state: {info.state})"]
    for proc in info.processes:
        up = "running" if alive.get(proc.name) else "not running"
        lines.append(f"{proc.name:<10} {endpoints.get(proc.name) or '-':<26} pid {proc.pid:<8} {up:<12} log {proc.log}")
    if info.state == "running":
        lines.append(f"env file   {info.data_dir / 'stack.env'}")
        lines += [f"           {k}={v}" for k, v in info.env().items()]
    return "\n".join(lines)


def _pg_endpoint(url: str | None) -> str | None:
    return None if url is None else url.rsplit("@", 1)[-1].split("/", 1)[0]


def _flags_file(args: argparse.Namespace) -> Path | None:
    if args.no_flags:
        return None
    if args.flags_file is not None:
        if not args.flags_file.is_file():
            raise EmbeddedError(f"--flags-file {args.flags_file} does not exist")
        return Path(args.flags_file)
    return DEFAULT_FLAGS_FILE if DEFAULT_FLAGS_FILE.is_file() else None


def _up(args: argparse.Namespace) -> int:
    stack = EmbeddedStack(
        args.data_dir,
        kafka_port=args.kafka_port,
        postgres_port=args.postgres_port,
        start_timeout_s=args.timeout,
        tie_to_parent=args.foreground,
        flags_file=_flags_file(args),
        flags_port=args.flags_port,
    )
    stack.start()
    try:
        if not args.no_topics:
            topics = run_blocking(create_default_topics(stack.kafka_bootstrap))
            print(f"created {len(topics)} topics (with DLQs)")
    except BaseException:
        stack.stop()
        raise
    print(_describe(stack.info))
    if stack.info.flags_url:
        print(f"flags      {stack.info.flags_url} (Flipt evaluation API; turn flags on with "
              "TRADING_FEATURE_FLAGS_ENABLED=true)")
    print(f"load it: set -a; . {stack.env_file}; set +a")
    if not args.foreground:
        print(f"stop it: torghut-infra down --data-dir {stack.data_dir}")
        return 0
    return _foreground(stack)


def _foreground(stack: EmbeddedStack) -> int:
    """Block until Ctrl-C / SIGTERM or until a server dies; then stop everything."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    print("running in the foreground; Ctrl-C stops everything", flush=True)
    code = 0
    while not stop.wait(0.5):
        dead = [name for name, up in stack.info.alive().items() if not up]
        if dead:
            for name in dead:
                print(f"{name} died; last log lines:\n{log_tail(stack.logs[name])}", file=sys.stderr)
            code = 1
            break
    outcome = stack.stop()
    print("stopped: " + ", ".join(f"{k} {v}" for k, v in outcome.items()))
    return code


def _down(args: argparse.Namespace) -> int:
    outcome = stop_stack(args.data_dir)
    print(f"{args.data_dir}: " + (", ".join(f"{k} {v}" for k, v in outcome.items()) or "nothing recorded"))
    return 1 if "still alive" in outcome.values() else 0


def _status(args: argparse.Namespace) -> int:
    info = read_stack(args.data_dir)
    print(_describe(info))
    answering = {
        "kafka": _port_open(info.kafka_bootstrap),
        "postgres": _port_open(_pg_endpoint(info.database_url)),
    }
    if info.flags_url:
        answering["flags"] = _port_open(info.flags_url.removeprefix("http://"))
    print("answering  " + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in answering.items()))
    return 0 if info.state == "running" and all(info.alive().values()) and all(answering.values()) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``torghut-infra``; returns the exit code."""
    args = _parser().parse_args(argv)
    handlers = {"up": _up, "down": _down, "stop": _down, "status": _status}
    try:
        return handlers[args.command](args)
    except EmbeddedError as exc:
        print(f"torghut-infra {args.command}: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"torghut-infra {args.command}: {exc} (use --no-topics to skip topic creation)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

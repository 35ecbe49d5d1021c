"""``torghut``: status, kill switch, trading state, topics, tail, replay, flags."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from torghut_runtime.topic_window import WindowReadError

from .commands import control, demo, flags, replay, status, topics
from .commands.control import cmd_control
from .commands.demo import cmd_demo
from .commands.flags import cmd_flags
from .commands.replay import cmd_replay
from .commands.status import cmd_status
from .commands.topics import cmd_tail, cmd_topics
from .consoles import err
from .errors import CliError
from .windows import ProductionTopicRefused


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torghut", description=__doc__)
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or "
                                            ".torghut/infra/stack.env)")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (status, control, topics, replay, flags, demo):  # the order `torghut --help` lists them in
        group.add_parsers(sub)
    return parser


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

"""``torghut demo``: the whole suite on embedded infrastructure, replaying a recorded session."""

from __future__ import annotations

import argparse
from pathlib import Path


async def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo.runner import run_demo

    await run_demo(Path(args.workdir), None if args.speed is None else args.speed, args.quiet_seconds,
                   from_bars=args.from_bars, keep=args.keep, llm=args.llm)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="run the whole suite on embedded infrastructure and replay a session")
    demo.add_argument("--workdir", default=".torghut/demo")
    demo.add_argument("--speed", type=float, default=600.0,
                      help="replay at the session's original spacing / SPEED (default 600: 6.5 hours in ~40 s)")
    demo.add_argument("--asap", dest="speed", action="store_const", const=None,
                      help="replay as fast as possible (the firewall then sees prices ahead of decisions)")
    demo.add_argument("--from-bars", action="store_true",
                      help="start from the session's minute bars: market-data's file source and ta compute the "
                           "signals instead of replaying the precomputed ones (as fast as ta computes them)")
    demo.add_argument("--llm", choices=("local",), default=None,
                      help="local: the engine's DSPy mode reviews every proposal with a real local model "
                           "(scripts/ensure-local-llm.sh installs it; docs/local-model.md)")
    demo.add_argument("--keep", action="store_true",
                      help="keep the stack (and the operator console) up after the report, until Ctrl-C")
    demo.add_argument("--quiet-seconds", type=float, default=6.0, help="end after this long with no new message")

"""``torghut control``, ``kill-switch`` and ``trading-state``: read and set the compacted control topic."""

from __future__ import annotations

import argparse

from pydantic import ValidationError
from rich.table import Table
from torghut_contracts import topics
from torghut_contracts.enums import TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GLOBAL_SCOPE, ControlCommand
from torghut_runtime.topic_window import RawRecord

from .. import kafka_io
from ..broker_address import resolve_bootstrap
from ..consoles import out
from ..control import latest_by_scope, next_command


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


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("control", help="show the kill switch and trading state per scope")
    kill = sub.add_parser("kill-switch", help="turn the kill switch on or off")
    kill.add_argument("state", choices=("on", "off"))
    state = sub.add_parser("trading-state", help="set ACTIVE, REDUCING or HALTED")
    state.add_argument("state", choices=[s.value for s in TradingState])
    for p in (kill, state):
        p.add_argument("--scope", default=GLOBAL_SCOPE, help="'global' or an account id")
        p.add_argument("--reason", default="", help="why (kept on the compacted topic)")

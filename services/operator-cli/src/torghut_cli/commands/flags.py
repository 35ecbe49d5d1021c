"""``torghut flags``: every feature flag as each service it maps to would see it now."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from rich.table import Column, Table

from ..consoles import out
from ..errors import CliError


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


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    flags = sub.add_parser("flags", help="every feature flag: value at the flag server, default, safe value, "
                                         "source (server or fallback) and the service setting it maps to")
    flags.add_argument("--flags-url", help="Flipt base URL (default: $TRADING_FEATURE_FLAGS_URL); "
                                           "namespace and token from TRADING_FEATURE_FLAGS_*")
    flags.add_argument("--json", action="store_true", help="print JSON instead of a table")

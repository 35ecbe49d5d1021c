"""The live parts of the pages: each panel is a server-rendered fragment, pushed again when its data changes.

A page is its panels laid out; the first render comes with the page, the next ones over the event
stream (``/events``), so what an operator sees is always HTML the server made from the read model.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncEngine

from .adapters import read_model
from .adapters.watch import ServiceWatch
from .domain.stages import FLOW

TEMPLATES = Path(__file__).parent / "templates"


class Panel(StrEnum):
    STATUS = "status"
    PIPELINE = "pipeline"
    DECISIONS = "decisions"
    ACCOUNT = "account"
    CONTROL = "control"
    RESEARCH = "research"


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html",)),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = lambda v: "" if v is None else f"{v:,.2f}"
    env.filters["qty"] = lambda v: "" if v is None else f"{v.normalize():f}" if hasattr(v, "normalize") else str(v)
    env.filters["when"] = lambda v: "" if v is None else v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    env.filters["clock"] = lambda v: "" if v is None else v.astimezone(UTC).strftime("%H:%M:%S")
    return env


class PanelRenderer:
    """Renders one panel from the read model (and, for the pipeline, what the watch last saw)."""

    DECISIONS_SHOWN = 25
    BLOTTER_SHOWN = 20

    def __init__(self, engine: AsyncEngine, watch: ServiceWatch, env: Environment) -> None:
        self.engine = engine
        self.watch = watch
        self.env = env
        self.database_up = True

    async def render(self, panel: Panel) -> str:
        """The same HTML for every viewer: what differs by role (the control forms) is not a panel."""
        if panel is Panel.STATUS:
            return self.env.get_template("panels/status.html").render(
                database_up=self.database_up, watch=self.watch, now=datetime.now(UTC))
        async with self.engine.connect() as conn:
            context = await self._context(panel, conn)
        return self.env.get_template(f"panels/{panel.value}.html").render(**context)

    async def _context(self, panel: Panel, conn: Any) -> dict[str, Any]:
        match panel:
            case Panel.PIPELINE:
                counts = await read_model.stage_counts(conn)
                self.watch.sample_counts({stage: row["seen"] for stage, row in counts.items()})
                return {"flow": [(stage.value, counts.get(stage.value), self.watch.rate(stage.value))
                                 for stage in FLOW],
                        "dead_letters": await read_model.dead_letters(conn), "services": self.watch.services()}
            case Panel.DECISIONS:
                return {"decisions": await read_model.latest_decisions(conn, limit=self.DECISIONS_SHOWN)}
            case Panel.ACCOUNT:
                series = await read_model.pnl_series(conn)
                chart = {account: {"t": [r["filled_at"].timestamp() for r in rows],
                                   "realized": [float(r["realized_pl"]) for r in rows],
                                   "total": [float(r["realized_pl"] + r["unrealized_pl"]) for r in rows]}
                         for account, rows in series.items()}
                return {"accounts": await read_model.account_view(conn), "chart": json.dumps(chart),
                        "blotter": await read_model.blotter(conn, limit=self.BLOTTER_SHOWN)}
            case Panel.CONTROL:
                return {"current": await read_model.control_now(conn),
                        "history": await read_model.control_history(conn, limit=20)}
            case Panel.RESEARCH:
                return {"runs": await read_model.whitepaper_runs(conn, limit=50),
                        "lane_runs": await read_model.lane_runs(conn, limit=50)}
        raise ValueError(f"no panel {panel}")

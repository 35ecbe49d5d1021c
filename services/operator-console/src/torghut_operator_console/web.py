"""The console's pages, its event stream, the login and the one action it takes: a control command.

A Starlette app of its own, mounted under the runtime's probes: it carries the session middleware
(a signed cookie: the role, the operator's name, the CSRF token) that no other service needs.
Every form that changes something checks the session's CSRF token and, when the browser sends
one, the ``Origin``; the cookie is ``SameSite=Strict``. Whatever is refused publishes nothing and
says why with a 4xx.
"""

from __future__ import annotations

import math
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from jinja2 import Environment
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from torghut_contracts.models import ControlCommand
from torghut_runtime.topic_window import WindowReadError

from .adapters import read_model
from .adapters.live import LiveFeed
from .domain.access import Role, may_act, may_read, role_for, same_token
from .domain.control import BadControlRequest, ControlRequest, command_for, parse_control_form
from .domain.throttle import LoginThrottle
from .metrics import ConsoleMetrics
from .panels import Panel, PanelRenderer
from .settings import ConsoleSettings

log = structlog.get_logger("torghut.console.web")
STATIC = Path(__file__).parent / "static"
CORRELATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
BAD_CORRELATION_ID = "a correlation id is letters, digits and . _ : - (up to 128)"
OPERATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@\-]{0,63}$")
SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,14}$")
OUTCOMES = ("approve", "veto", "pending")
SESSION_HOURS = 12

PAGES: dict[str, tuple[str, tuple[Panel, ...]]] = {
    "pipeline": ("Pipeline", (Panel.STATUS, Panel.PIPELINE, Panel.DECISIONS)),
    "decisions": ("Decisions", (Panel.STATUS, Panel.DECISIONS)),
    "account": ("Account", (Panel.STATUS, Panel.ACCOUNT)),
    "control": ("Control", (Panel.STATUS, Panel.CONTROL)),
    "research": ("Research", (Panel.STATUS, Panel.RESEARCH)),
}

Publish = Callable[[ControlCommand], Awaitable[Any]]
LatestCommand = Callable[[str], Awaitable[ControlCommand | None]]
"""A scope's latest command on the control topic itself (:mod:`.adapters.control_topic`)."""


@dataclass
class ConsoleWeb:
    settings: ConsoleSettings
    env: Environment
    renderer: PanelRenderer
    feed: LiveFeed
    publish: Publish
    latest_command: LatestCommand
    metrics: ConsoleMetrics
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    # -- the app ------------------------------------------------------------------------------
    def app(self) -> Starlette:
        secret = self.settings.secret(self.settings.console_session_secret) or secrets.token_urlsafe(32)
        routes = [
            Route("/", self.page("pipeline")), Route("/decisions", self.decisions),
            Route("/account", self.page("account")), Route("/control", self.page("control")),
            Route("/research", self.page("research")), Route("/chain/{correlation_id:path}", self.chain),
            Route("/hops/{correlation_id:path}", self.hops),
            Route("/events", self.events), Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]), Route("/control", self.control, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
        return Starlette(routes=routes, middleware=[Middleware(
            SessionMiddleware, secret_key=secret, session_cookie="torghut_console", max_age=SESSION_HOURS * 3600,
            same_site="strict", https_only=self.settings.secure_cookies)])

    # -- who is asking ------------------------------------------------------------------------
    @staticmethod
    def role(request: Request) -> Role | None:
        value = request.session.get("role")
        return Role(value) if isinstance(value, str) and value in Role._value2member_map_ else None

    def readable(self, request: Request) -> bool:
        return may_read(self.role(request), viewer_password_set=self.settings.console_viewer_password is not None)

    @staticmethod
    def csrf(request: Request) -> str:
        if "csrf" not in request.session:
            request.session["csrf"] = secrets.token_urlsafe(32)
        return str(request.session["csrf"])

    @staticmethod
    def same_origin(request: Request) -> bool:
        """A browser's POST names its origin; it must be this console (a missing header: an old client)."""
        origin = request.headers.get("origin")
        return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")

    def html(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        role = self.role(request)
        body = self.env.get_template(template).render(
            request=request, role=role.value if role else None, operator=request.session.get("name"),
            csrf=self.csrf(request), can_act=may_act(role), flash=request.session.pop("flash", None),
            control_enabled=self.settings.console_operator_password is not None, **context)
        return HTMLResponse(body, status_code=status_code)

    def refuse(self, request: Request, status_code: int, message: str) -> HTMLResponse:
        return self.html(request, "error.html", status_code=status_code, message=message, title="Refused")

    # -- pages --------------------------------------------------------------------------------
    def page(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        title, panels = PAGES[name]

        async def render(request: Request) -> Response:
            if not self.readable(request):
                return RedirectResponse("/login", status_code=303)
            if request.query_params:
                return self.refuse(request, 400, f"{request.url.path} takes no query parameters "
                                                 f"(got {', '.join(sorted(request.query_params))})")
            rendered = {panel.value: await self.renderer.render(panel) for panel in panels}
            return self.html(request, f"{name}.html", title=title, page=name, panels=rendered,
                             stream=",".join(panel.value for panel in panels))
        return render

    async def decisions(self, request: Request) -> Response:
        if not self.readable(request):
            return RedirectResponse("/login", status_code=303)
        unknown = set(request.query_params) - {"symbol", "outcome", "limit"}
        if unknown:
            return self.refuse(request, 400, f"unknown query parameter(s): {', '.join(sorted(unknown))}; "
                                             "use symbol, outcome, limit")
        symbol = request.query_params.get("symbol") or None
        outcome = request.query_params.get("outcome") or None
        limit_text = request.query_params.get("limit", "100")
        if symbol is not None and not SYMBOL.match(symbol):
            return self.refuse(request, 400, "symbol must be an upper-case ticker such as AAPL or BRK.B")
        if outcome is not None and outcome not in OUTCOMES:
            return self.refuse(request, 400, f"outcome must be one of {', '.join(OUTCOMES)}")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            return self.refuse(request, 400, "limit must be a whole number from 1 to 1000")
        if symbol is None and outcome is None and "limit" not in request.query_params:
            return await self.page("decisions")(request)
        async with self.renderer.engine.connect() as conn:
            rows = await read_model.latest_decisions(conn, limit=int(limit_text), symbol=symbol, outcome=outcome)
        table = self.env.get_template("panels/decisions.html").render(decisions=rows)
        return self.html(request, "decisions.html", title="Decisions", page="decisions", stream="status",
                         panels={"decisions": table, "status": await self.renderer.render(Panel.STATUS)},
                         filtered={"symbol": symbol, "outcome": outcome, "limit": limit_text})

    async def chain(self, request: Request) -> Response:
        if not self.readable(request):
            return RedirectResponse("/login", status_code=303)
        correlation_id = request.path_params["correlation_id"]
        if not CORRELATION_ID.match(correlation_id):
            return self.refuse(request, 400, BAD_CORRELATION_ID)
        async with self.renderer.engine.connect() as conn:
            hops = await read_model.chain(conn, correlation_id)
        if not hops:
            return self.refuse(request, 404, f"no message with correlation id {correlation_id} is in the read "
                                             "model (unknown, or older than CONSOLE_HOP_RETENTION_H)")
        return self.html(request, "chain.html", title="Chain", page="chain", hops=hops,
                         correlation_id=correlation_id, stream="status,pipeline",
                         panels={"status": await self.renderer.render(Panel.STATUS)})

    async def hops(self, request: Request) -> Response:
        """The chain's hops alone: what its page reads again while the chain is still in flight."""
        if not self.readable(request):
            return Response("log in first", status_code=401, media_type="text/plain")
        correlation_id = request.path_params["correlation_id"]
        if not CORRELATION_ID.match(correlation_id):
            return Response(BAD_CORRELATION_ID, status_code=400, media_type="text/plain")
        async with self.renderer.engine.connect() as conn:
            hops = await read_model.chain(conn, correlation_id)
        return HTMLResponse(self.env.get_template("panels/chain.html").render(
            hops=hops, correlation_id=correlation_id))

    async def events(self, request: Request) -> Response:
        if not self.readable(request):
            return Response("log in first", status_code=401, media_type="text/plain")
        names = [name for name in request.query_params.get("panels", "").split(",") if name]
        unknown = [name for name in names if name not in Panel._value2member_map_]
        if not names or unknown or set(request.query_params) - {"panels"}:
            return Response(f"panels must list some of {', '.join(p.value for p in Panel)}",
                            status_code=400, media_type="text/plain")

        async def events() -> AsyncIterator[dict[str, str]]:
            async for panel, html in self.feed.stream(frozenset(Panel(name) for name in names)):
                yield {"event": panel.value, "data": html}
        return EventSourceResponse(events(), ping=15)

    # -- logging in ---------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.html(request, "login.html", title="Log in", page="login")
        form = await request.form()
        if not self.same_origin(request) or not same_token(request.session.get("csrf"), str(form.get("csrf", ""))):
            self.metrics.logins.labels(outcome="forged").inc()
            return self.refuse(request, 403, "the login form was not this console's (CSRF check failed): reload it")
        client = request.client.host if request.client else "unknown"
        wait = self.throttle.retry_after(client, time.monotonic())
        if wait is not None:
            self.metrics.logins.labels(outcome="throttled").inc()
            response = self.html(request, "login.html", status_code=429, title="Log in", page="login",
                                 error=f"too many failed logins from your address: try again in {math.ceil(wait)} s")
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        name = str(form.get("name", "")).strip()
        if not OPERATOR_NAME.match(name):
            return self.html(request, "login.html", status_code=400, title="Log in", page="login",
                             error="give your name (letters, digits, space . _ @ -, up to 64): it signs your actions")
        role = role_for(str(form.get("password", "")),
                        operator_password=self.settings.secret(self.settings.console_operator_password),
                        viewer_password=self.settings.secret(self.settings.console_viewer_password))
        if role is None:
            self.throttle.failed(client, time.monotonic())
            self.metrics.logins.labels(outcome="refused").inc()
            log.warning("login refused", name=name, client=client)
            return self.html(request, "login.html", status_code=401, title="Log in", page="login",
                             error="wrong password")
        self.throttle.succeeded(client)
        self.metrics.logins.labels(outcome=role.value).inc()
        log.info("logged in", name=name, role=role.value)
        request.session.clear()
        request.session.update({"role": role.value, "name": name, "csrf": secrets.token_urlsafe(32)})
        return RedirectResponse("/control" if role is Role.OPERATOR else "/", status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if not same_token(request.session.get("csrf"), str(form.get("csrf", ""))):
            return self.refuse(request, 403, "the logout form was not this console's (CSRF check failed)")
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    # -- the action ---------------------------------------------------------------------------
    async def control(self, request: Request) -> Response:
        form = await request.form()
        role = self.role(request)
        if not may_act(role):
            self.metrics.control.labels(outcome="not_operator").inc()
            return self.refuse(request, 403 if role else 401,
                               "changing the kill switch or the trading state needs an operator login")
        if not self.same_origin(request) or not same_token(request.session.get("csrf"), str(form.get("csrf", ""))):
            self.metrics.control.labels(outcome="forged").inc()
            return self.refuse(request, 403, "the control form was not this console's (CSRF check failed): reload it")
        try:
            control = parse_control_form({k: str(v) for k, v in form.items() if k != "csrf"})
        except BadControlRequest as exc:
            self.metrics.control.labels(outcome="bad_request").inc()
            return self.refuse(request, 400, str(exc))
        try:
            command = await self._command(control, issued_by=f"console:{request.session.get('name', 'operator')}")
        except WindowReadError as exc:
            self.metrics.control.labels(outcome="control_topic_unreadable").inc()
            log.error("control topic unreadable; nothing published", error=str(exc))
            return self.refuse(request, 503, "the control topic cannot be read, so the change cannot keep what "
                                             f"it does not touch: nothing was published ({exc})")
        await self.publish(command)
        self.metrics.control.labels(outcome="published").inc()
        log.info("control command published", scope=command.scope, kill_switch=command.kill_switch,
                 trading_state=command.trading_state.value, issued_by=command.issued_by)
        request.session["flash"] = (f"published: {command.scope} kill switch "
                                    f"{'ON' if command.kill_switch else 'off'}, {command.trading_state.value}")
        return RedirectResponse("/control", status_code=303)

    async def _command(self, request: ControlRequest, *, issued_by: str) -> ControlCommand:
        current = await self.latest_command(request.scope)
        return command_for(request, current, command_id=str(uuid.uuid4()), issued_by=issued_by,
                           issued_at=datetime.now(UTC))

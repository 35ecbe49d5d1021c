"""Acting from the console: only a logged-in operator with this console's form; else a 4xx, nothing published."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from torghut_contracts import topics
from torghut_contracts.enums import TradingState
from torghut_contracts.models import ControlCommand
from torghut_operator_console.adapters import store
from torghut_runtime.testing import eventually, read_records
from torghut_runtime.topic_window import BrokerUnreachable

from .conftest import OPERATOR_PASSWORD, VIEWER_PASSWORD, ConsoleFactory, RunningConsole


async def csrf_of(client: httpx.AsyncClient, path: str = "/login") -> str:
    page = await client.get(path)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def log_in(client: httpx.AsyncClient, password: str, name: str = "ana") -> httpx.Response:
    return await client.post("/login", data={"name": name, "password": password, "csrf": await csrf_of(client)})


async def published(running: RunningConsole, expect: int) -> list[ControlCommand]:
    records = await read_records(running.bootstrap, running.prefix + topics.CONTROL.name, expect=expect,
                                 timeout=5, settle=0.5)
    return [topics.CONTROL.decode(r.value) for r in records]


async def test_an_operator_turns_the_kill_switch_on_and_the_page_shows_who_did(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        assert (await log_in(client, OPERATOR_PASSWORD)).status_code == 303
        response = await client.post("/control", data={"kill_switch": "on", "reason": "drill",
                                                        "csrf": await csrf_of(client, "/control")})
        assert response.status_code == 303 and response.headers["location"] == "/control"
        (command,) = await published(running, 1)
        assert (command.scope, command.kill_switch, command.issued_by, command.reason) == \
            ("global", True, "console:ana", "drill")

        async def shown() -> bool:
            return "console:ana" in (await client.get("/control")).text
        await eventually(shown, what="the command on the control page")
        await client.post("/control", data={"kill_switch": "off", "csrf": await csrf_of(client, "/control")})

        async def switched_off() -> bool:
            return ">off<" in (await client.get("/control")).text.split("History")[0]
        await eventually(switched_off, what="the second command as the posture")
        # The next change keeps the kill switch as the latest command (read back from the topic) had it.
        await client.post("/control", data={"trading_state": "HALTED", "csrf": await csrf_of(client, "/control")})
        *_, third = await published(running, 3)
        assert (third.kill_switch, third.trading_state.value) == (False, "HALTED")


async def test_without_an_operator_login_nothing_is_published(console: ConsoleFactory) -> None:
    async with console(console_viewer_password=VIEWER_PASSWORD) as running, running.client() as client:
        anonymous = await client.post("/control", data={"kill_switch": "off", "csrf": "x"})
        assert anonymous.status_code == 401 and "operator login" in anonymous.text
        assert (await client.get("/")).status_code == 303  # a viewer password: reading needs a login too
        assert (await log_in(client, "wrong-password")).status_code == 401
        assert (await log_in(client, VIEWER_PASSWORD)).status_code == 303
        assert (await client.get("/")).status_code == 200
        viewer = await client.post("/control", data={"kill_switch": "off", "csrf": await csrf_of(client, "/control")})
        assert viewer.status_code == 403
        assert await published(running, 0) == []


async def test_a_forged_or_malformed_control_request_is_refused_and_publishes_nothing(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        assert (await log_in(client, OPERATOR_PASSWORD)).status_code == 303
        token = await csrf_of(client, "/control")
        no_token = await client.post("/control", data={"kill_switch": "off"})
        wrong_token = await client.post("/control", data={"kill_switch": "off", "csrf": token + "x"})
        other_site = await client.post("/control", data={"kill_switch": "off", "csrf": token},
                                       headers={"origin": "https://evil.example"})
        assert [r.status_code for r in (no_token, wrong_token, other_site)] == [403, 403, 403]
        assert "CSRF" in no_token.text
        both = await client.post("/control", data={"kill_switch": "off", "trading_state": "ACTIVE", "csrf": token})
        bad_state = await client.post("/control", data={"trading_state": "PAUSED", "csrf": token})
        bad_scope = await client.post("/control", data={"kill_switch": "on", "scope": "<script>", "csrf": token})
        assert [r.status_code for r in (both, bad_state, bad_scope)] == [400, 400, 400]
        assert "trading_state must be one of" in bad_state.text and "<script>" not in bad_scope.text
        assert await published(running, 0) == []


async def test_a_login_form_from_elsewhere_is_refused(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        forged = await client.post("/login", data={"name": "ana", "password": OPERATOR_PASSWORD})
        assert forged.status_code == 403
        bad_name = await client.post("/login", data={"name": "", "password": OPERATOR_PASSWORD,
                                                     "csrf": await csrf_of(client)})
        assert bad_name.status_code == 400
        still_anonymous = await client.post("/control", data={"kill_switch": "off", "csrf": await csrf_of(client)})
        assert still_anonymous.status_code == 401
        assert await published(running, 0) == []


async def test_with_no_operator_password_the_console_is_read_only(console: ConsoleFactory) -> None:
    async with console(console_operator_password=None) as running, running.client() as client:
        assert "nobody can act" in (await client.get("/control")).text
        assert (await log_in(client, "")).status_code in (400, 401)
        assert await published(running, 0) == []


async def test_an_address_that_keeps_guessing_waits_even_with_the_right_password(console: ConsoleFactory) -> None:
    async with console(console_login_max_failures=3) as running, running.client() as client:
        for _ in range(3):
            assert (await log_in(client, "not-the-password")).status_code == 401
        throttled = await log_in(client, OPERATOR_PASSWORD)
        assert throttled.status_code == 429 and "too many failed logins" in throttled.text
        assert 0 < int(throttled.headers["retry-after"]) <= 300
        refused = await client.post("/control", data={"kill_switch": "on", "csrf": await csrf_of(client)})
        assert refused.status_code == 401, "the throttled login did not log in"
        assert await published(running, 0) == []


def from_cli(command_id: str, *, kill_switch: bool, state: TradingState, reason: str) -> ControlCommand:
    """A global command the operator CLI sent, as the console reads it off the control topic."""
    return ControlCommand(command_id=command_id, scope="global", kill_switch=kill_switch, trading_state=state,
                          reason=reason, issued_by="cli:ops", issued_at=datetime.now(UTC))


async def test_a_change_keeps_what_the_control_topic_last_said_not_what_the_read_model_holds(
        console: ConsoleFactory) -> None:
    """A command the read model lags behind (the CLI's, a moment ago) is not undone by the next change."""
    async with console() as running, running.client() as client:
        await running.send(topics.CONTROL, from_cli("cli-1", kill_switch=False, state=TradingState.HALTED,
                                                    reason="desk halt"))

        async def read() -> bool:
            return "cli:ops" in (await client.get("/control")).text
        await eventually(read, what="the CLI's command in the read model")
        engine = running.service.runtime.engine
        async with engine.begin() as conn:  # the read model falls behind: it holds an older posture
            await conn.execute(sa.update(store.control).values(trading_state="ACTIVE"))

        assert (await log_in(client, OPERATOR_PASSWORD)).status_code == 303
        await client.post("/control", data={"kill_switch": "on", "csrf": await csrf_of(client, "/control")})
        *_, command = await published(running, 2)
        assert (command.kill_switch, command.trading_state) == (True, TradingState.HALTED)


async def test_when_the_control_topic_cannot_be_read_nothing_is_published(console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        async def unreadable(scope: str) -> ControlCommand | None:
            raise BrokerUnreachable("no broker answered at 127.0.0.1:9")
        running.service.web.latest_command = unreadable
        assert (await log_in(client, OPERATOR_PASSWORD)).status_code == 303
        response = await client.post("/control", data={"kill_switch": "on", "csrf": await csrf_of(client, "/control")})
        assert response.status_code == 503 and "nothing was published" in response.text
        assert await published(running, 0) == []


def posture(page: str) -> dict[str, list[str]]:
    """The posture table: each scope's kill switch, trading state, by, at and reason."""
    table = page.split('<table class="posture">', 1)[1].split("</table>", 1)[0]
    return {scope: re.findall(r"<td[^>]*>([^<]*)</td>", cells)
            for scope, cells in re.findall(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', table, re.S)}


async def test_an_operator_changes_one_accounts_trading_state_and_global_stays_as_it_was(
        console: ConsoleFactory) -> None:
    async with console() as running, running.client() as client:
        await running.send(topics.CONTROL, from_cli("cli-global", kill_switch=True, state=TradingState.ACTIVE,
                                                    reason="desk drill"))
        assert (await log_in(client, OPERATOR_PASSWORD)).status_code == 303
        for change in ({"kill_switch": "off"}, {"trading_state": "REDUCING", "reason": "trim paper-main"}):
            response = await client.post("/control", data={**change, "scope": "paper-main",
                                                            "csrf": await csrf_of(client, "/control")})
            assert response.status_code == 303, response.text
        first, *ours = await published(running, 3)
        assert first.command_id == "cli-global"
        assert [c.scope for c in ours] == ["paper-main", "paper-main"], "nothing published for global"
        # The account's own kill switch (off, as its latest command set it), not the global's (ON).
        assert (ours[1].kill_switch, ours[1].trading_state, ours[1].reason, ours[1].issued_by) == \
            (False, TradingState.REDUCING, "trim paper-main", "console:ana")

        async def account_shown() -> bool:
            return "REDUCING" in posture((await client.get("/control")).text).get("paper-main", [])
        await eventually(account_shown, what="the account's posture on the control page")
        now = posture((await client.get("/control")).text)
        assert now["paper-main"][:3] == ["off", "REDUCING", "console:ana"] and now["paper-main"][4] == "trim paper-main"
        assert now["global"][:3] == ["ON", "ACTIVE", "cli:ops"] and now["global"][4] == "desk drill"

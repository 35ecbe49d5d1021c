"""LEAN runner routing and fallback, against a local runner stand-in and a local Alpaca server.

The router's handler runs directly over a real Postgres (the broker is not needed to decide a route);
the published TradeUpdate is read from the outbox it leaves for the relay.
"""

from __future__ import annotations

from typing import Any

from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus


async def lean_router(offline_router: Any, fake_lean: Any, fake_alpaca: Any, **overrides: Any) -> Any:
    service = await offline_router(
        execution_primary_adapter="lean", lean_runner_url=fake_lean.base_url, lean_runner_timeout_s=0.3,
        execution_fallback_adapter="alpaca", alpaca_api_key_id=fake_alpaca.key,
        alpaca_api_secret_key=fake_alpaca.secret, alpaca_base_url=fake_alpaca.base_url,
        alpaca_stream_enabled=False, execution_lean_symbols="NVDA", **overrides)
    return service


async def submit(service: Any, messages: Any, **order: Any) -> list[Any]:
    await service.store.save_control(messages["control"]())
    approved = messages["approved"](**order)
    await service.intake.on_approved(messages["inbound"](approved, topics.ORDERS_APPROVED.name), None)
    pending = await service.store.pending_publications()
    return [topics.TRADE_UPDATES.decode(p.payload) for p in pending]


async def test_lean_takes_an_allowlisted_symbol(offline_router: Any, fake_lean: Any, fake_alpaca: Any,
                                                make_messages: Any) -> None:
    service = await lean_router(offline_router, fake_lean, fake_alpaca)
    updates = await submit(service, make_messages)
    assert [(u.venue, u.event.value, u.fallback_reason) for u in updates] == [(Adapter.LEAN, "accepted", None)]
    sent = fake_lean.submits[0]
    assert sent["idempotency_key"] == updates[0].order.client_order_id
    assert sent["correlation"].startswith("torghut-") and sent["body"]["symbol"] == "NVDA"
    assert fake_alpaca.orders == {}


async def test_a_lean_timeout_falls_back_to_alpaca_tagged_with_the_reason(offline_router: Any, fake_lean: Any,
                                                                          fake_alpaca: Any, make_messages: Any) -> None:
    fake_lean.mode = "slow"
    service = await lean_router(offline_router, fake_lean, fake_alpaca)
    updates = await submit(service, make_messages)
    assert [(u.venue, u.order.status, u.fallback_reason) for u in updates] == \
        [(Adapter.ALPACA, OrderStatus.NEW, "lean_submit_timeout")]
    assert list(fake_alpaca.by_client) == [updates[0].order.client_order_id], "same client_order_id at the fallback"
    execution = await service.store.get(updates[0].order.client_order_id)
    assert (execution.expected_adapter, execution.venue) == (Adapter.LEAN, Adapter.ALPACA)
    assert service.metrics.fallbacks.labels(reason="lean_submit_timeout")._value.get() == 1
    # the failure keeps LEAN away until its health check passes again
    later = await submit(service, make_messages)
    assert later[-1].fallback_reason == "lean_unhealthy"


async def test_a_lean_contract_violation_falls_back(offline_router: Any, fake_lean: Any, fake_alpaca: Any,
                                                    make_messages: Any) -> None:
    fake_lean.mode = "bad"
    service = await lean_router(offline_router, fake_lean, fake_alpaca)
    updates = await submit(service, make_messages)
    assert [(u.venue, u.fallback_reason) for u in updates] == [(Adapter.ALPACA, "lean_submit_contract_violation")]


async def test_an_order_lean_took_despite_a_timeout_is_adopted_not_doubled(offline_router: Any, fake_lean: Any,
                                                                           fake_alpaca: Any,
                                                                           make_messages: Any) -> None:
    fake_lean.mode = "slow_but_taken"
    service = await lean_router(offline_router, fake_lean, fake_alpaca)
    updates = await submit(service, make_messages)
    assert [(u.venue, u.fallback_reason) for u in updates] == [(Adapter.LEAN, None)]
    assert fake_alpaca.orders == {}


async def test_a_symbol_lean_may_not_take_goes_to_the_fallback_untagged(offline_router: Any, fake_lean: Any,
                                                                        fake_alpaca: Any, make_messages: Any) -> None:
    service = await lean_router(offline_router, fake_lean, fake_alpaca)
    updates = await submit(service, make_messages, symbol="AAPL")
    assert [(u.venue, u.fallback_reason) for u in updates] == [(Adapter.ALPACA, None)]
    assert fake_lean.submits == []


async def test_with_no_fallback_a_failed_lean_submit_is_refused(offline_router: Any, fake_lean: Any,
                                                                fake_alpaca: Any, make_messages: Any) -> None:
    fake_lean.mode = "bad"
    service = await offline_router(execution_primary_adapter="lean", lean_runner_url=fake_lean.base_url,
                                   execution_fallback_adapter="none", execution_lean_symbol_policy="all")
    updates = await submit(service, make_messages)
    assert [(u.venue, u.order.status) for u in updates] == [(Adapter.LEAN, OrderStatus.REJECTED)]
    execution = await service.store.get(updates[0].order.client_order_id)
    assert execution.reject_reason == "lean_submit_contract_violation"

"""Ambiguous Alpaca submissions: 'unknown' first, then reconciled by client_order_id, never 'rejected' early."""

from __future__ import annotations

from typing import Any

from torghut_contracts import topics
from torghut_contracts.enums import OrderStatus, TradeEvent


async def alpaca_router(offline_router: Any, fake_alpaca: Any, **overrides: Any) -> Any:
    return await offline_router(
        execution_primary_adapter="alpaca", alpaca_api_key_id=fake_alpaca.key,
        alpaca_api_secret_key=fake_alpaca.secret, alpaca_base_url=fake_alpaca.base_url, alpaca_stream_enabled=False,
        alpaca_http_timeout_s=0.3, **overrides)


async def place(service: Any, messages: Any) -> str:
    await service.store.save_control(messages["control"]())
    order = messages["approved"]()
    await service.intake.on_approved(messages["inbound"](order, topics.ORDERS_APPROVED.name), None)
    return str(order.client_order_id)


async def published(service: Any) -> list[tuple[str, OrderStatus]]:
    updates = [topics.TRADE_UPDATES.decode(p.payload) for p in await service.store.pending_publications()]
    return [(u.event.value, u.order.status) for u in updates]


async def test_a_timeout_is_unknown_then_reconciled_to_the_venues_state(offline_router: Any, fake_alpaca: Any,
                                                                       make_messages: Any, until: Any) -> None:
    fake_alpaca.next_submit("slow", delay_s=0.8, create="after")
    service = await alpaca_router(offline_router, fake_alpaca)
    coid = await place(service, make_messages)
    assert await published(service) == [("pending_new", OrderStatus.UNKNOWN)]
    await until(lambda: coid in fake_alpaca.by_client, what="the venue to register the slow order")
    await service.reconciler.reconcile_all("timer")
    assert await published(service) == [("pending_new", OrderStatus.UNKNOWN), ("new", OrderStatus.NEW)]
    execution = await service.store.get(coid)
    assert execution.venue_order_id == fake_alpaca.order_for(coid)["id"]
    await service.reconciler.reconcile_all("timer")
    assert len(await published(service)) == 2, "reconciling an unchanged order publishes nothing"


async def test_only_repeated_not_found_lookups_turn_unknown_into_rejected(offline_router: Any, fake_alpaca: Any,
                                                                         make_messages: Any) -> None:
    fake_alpaca.next_submit("slow", delay_s=0.5, create="never")
    service = await alpaca_router(offline_router, fake_alpaca, reconcile_unknown_max_lookups=3)
    coid = await place(service, make_messages)
    for _ in range(2):
        await service.reconciler.reconcile_all("timer")
        assert await published(service) == [("pending_new", OrderStatus.UNKNOWN)]
    await service.reconciler.reconcile_all("timer")
    assert await published(service) == [("pending_new", OrderStatus.UNKNOWN), ("rejected", OrderStatus.REJECTED)]
    assert (await service.store.get(coid)).reject_reason == "venue_never_acknowledged"


async def test_a_venue_refusal_is_published_as_rejected(offline_router: Any, fake_alpaca: Any,
                                                        make_messages: Any) -> None:
    fake_alpaca.next_submit("error", status=403, code=40310000, message="insufficient buying power")
    service = await alpaca_router(offline_router, fake_alpaca)
    coid = await place(service, make_messages)
    assert await published(service) == [(TradeEvent.REJECTED.value, OrderStatus.REJECTED)]
    assert (await service.store.get(coid)).reject_reason == "alpaca_403:insufficient_buying_power"


async def test_a_claim_left_by_a_crash_is_looked_up_on_redelivery_not_resubmitted(
        offline_router: Any, fake_alpaca: Any, make_messages: Any) -> None:
    service = await alpaca_router(offline_router, fake_alpaca)
    await service.store.save_control(make_messages["control"]())
    order = make_messages["approved"]()
    # the first attempt claimed, sent, and crashed before recording anything
    await service.store.claim(order, expected=order.adapter_hint or service.intake.routes.policy.primary,
                              venue=service.intake.routes.policy.primary, fallback_reason=None, correlation_id="c")
    fake_alpaca.create({"client_order_id": order.client_order_id, "symbol": "NVDA", "qty": 10, "side": "buy",
                        "type": "market", "time_in_force": "day"})
    await service.intake.on_approved(make_messages["inbound"](order, topics.ORDERS_APPROVED.name), None)
    assert await published(service) == [("new", OrderStatus.NEW)]
    assert not any(method == "POST" for method, _ in fake_alpaca.requests)
    assert len(fake_alpaca.orders) == 1


async def test_an_abandoned_claim_becomes_unknown_and_is_reconciled(offline_router: Any, fake_alpaca: Any,
                                                                    make_messages: Any) -> None:
    service = await alpaca_router(offline_router, fake_alpaca)
    order = make_messages["approved"]()
    primary = service.intake.routes.policy.primary
    await service.store.claim(order, expected=primary, venue=primary, fallback_reason=None, correlation_id="c")
    fake_alpaca.create({"client_order_id": order.client_order_id, "symbol": "NVDA", "qty": 10, "side": "buy",
                        "type": "market", "time_in_force": "day"})
    await service.reconciler.reconcile_all("timer")
    assert await published(service) == [], "a fresh claim belongs to its handler"
    service.reconciler.claim_recovery_s = 0.0
    assert await service.reconciler.recover_stale_claims() == 1
    await service.reconciler.reconcile_all("timer")
    assert await published(service) == [("new", OrderStatus.NEW)]

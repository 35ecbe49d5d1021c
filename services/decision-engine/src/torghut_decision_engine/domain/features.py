"""Reading the trigger's feature snapshot: named lookups, the reference price, the trigger's age."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from torghut_contracts.decision_engine import TriggerContext


def feature(trigger: TriggerContext, name: str) -> Decimal | None:
    return trigger.features.get(name)


def reference_price(trigger: TriggerContext) -> Decimal | None:
    """The trigger's price, else its ``price`` feature; a non-positive price is no price at all."""
    price = trigger.price if trigger.price is not None else feature(trigger, "price")
    return price if price is not None and price > 0 else None


def age_seconds(as_of: datetime, now: datetime) -> Decimal:
    """Signed age: negative when ``as_of`` lies in the future (a skewed clock)."""
    return Decimal(str(round((now - as_of).total_seconds(), 3)))

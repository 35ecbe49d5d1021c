"""Field types shared by every contract model.

Money, prices and quantities travel as decimal strings (``"100000"``) so no hop loses precision to
binary floats; timestamps are always timezone-aware and normalised to UTC so that event-time
comparisons across services never mix zones.

Every number is bounded by what the services can act on and the stores can hold: a decimal is
finite, below 10^15 in magnitude and has at most 20 decimal places (so ``"1e999999"`` is refused
at the door instead of becoming an absurd order or a ``decimal.InvalidOperation`` three hops
later), and an integer fits the column it is stored in. Text carries no NUL, no control
character and no lone surrogate: Postgres refuses the first, JSON encoders choke on the last.

Each type brings its own JSON Schema, so the snapshot a non-Python producer validates against
refuses what the models refuse: decimals are plain decimal strings with the sign and digit limits
in a pattern (JSON Schema cannot bound a string's numeric value, so 0-1 and 0-100 have patterns of
their own).
"""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue

MAX_INTEGER_DIGITS = 15
MAX_DECIMAL_PLACES = 20
DECIMAL_LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS
BIGINT_MAX = 2**63 - 1
"""The largest value of a Postgres ``bigint`` (sequence numbers, event ids)."""
INT_MAX = 2**31 - 1
"""The largest value of a Postgres ``integer`` (GitHub issue numbers)."""

_WIDE = decimal.Context(prec=MAX_INTEGER_DIGITS + MAX_DECIMAL_PLACES + 5)
_PLACES = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)


def _reject_non_numbers(value: object) -> object:
    # bool is an int subclass and never a number here; pydantic turns float('nan') into Decimal('NaN').
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _bounded(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number (NaN and Infinity are not allowed)")
    if abs(value) >= DECIMAL_LIMIT:
        raise ValueError(f"must be less than 1e{MAX_INTEGER_DIGITS} in magnitude")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
        shortened = value.quantize(_PLACES, context=_WIDE)
        if shortened != value:
            raise ValueError(f"must have at most {MAX_DECIMAL_PLACES} decimal places")
        value = shortened
    return value


def plain(value: Decimal) -> str:
    """The one decimal rendering on the wire: positional, never exponent notation (``1.0E+5`` -> ``100000``)."""
    return format(value, "f")


def _range(low: Decimal | None, high: Decimal | None, *, low_open: bool = False) -> AfterValidator:
    def check(value: Decimal) -> Decimal:
        if low is not None and (value <= low if low_open else value < low):
            raise ValueError("must be greater than zero" if low_open and low == 0 else
                             "must not be negative" if low == 0 else f"must be at least {low}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {high}")
        return value

    return AfterValidator(check)


_DIGITS = rf"(0|[1-9][0-9]{{0,{MAX_INTEGER_DIGITS - 1}}})(\.[0-9]{{1,{MAX_DECIMAL_PLACES}}})?"
_FRACTION = rf"\.[0-9]{{1,{MAX_DECIMAL_PLACES}}}"
_ZEROS = rf"(\.0{{1,{MAX_DECIMAL_PLACES}}})?"


def _schema(pattern: str, description: str) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", "pattern": f"^{pattern}$", "description": description}
    return WithJsonSchema(schema, mode="validation")


_as_string = PlainSerializer(plain, return_type=str, when_used="json")
_decimal = (BeforeValidator(_reject_non_numbers), AfterValidator(_bounded), _as_string)

Num = Annotated[Decimal, *_decimal, _schema(
    f"-?{_DIGITS}", "a decimal string, magnitude below 1e15, at most 20 decimal places")]
"""Any finite, bounded decimal (indicators such as MACD may be negative)."""
NonNegative = Annotated[Decimal, *_decimal, _range(Decimal(0), None), _schema(
    _DIGITS, "a non-negative decimal string, below 1e15, at most 20 decimal places")]
Positive = Annotated[Decimal, *_decimal, _range(Decimal(0), None, low_open=True), _schema(
    f"(?![0.]*$){_DIGITS}", "a decimal string greater than zero, below 1e15, at most 20 decimal places")]
Fraction = Annotated[Decimal, *_decimal, _range(Decimal(0), Decimal(1)), _schema(
    f"(0({_FRACTION})?|1{_ZEROS})", "a decimal string from 0 to 1")]
"""A share or a probability: confidence, a fraction of equity, a quality score."""
Percent = Annotated[Decimal, *_decimal, _range(Decimal(0), Decimal(100)), _schema(
    f"(100{_ZEROS}|[0-9]{{1,2}}({_FRACTION})?)", "a decimal string from 0 to 100")]
"""An oscillator on a 0-100 scale, such as RSI."""

Money = Num
"""Signed money: equity can fall below zero on a margin account, P&L is signed."""
Price = Positive
Quantity = NonNegative
SignedQuantity = Num
"""A position quantity; negative means short."""

SequenceNumber = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
"""A counter stored as ``bigint``: per-symbol sequences, per-order feed sequences, stream event ids."""
IssueNumber = Annotated[int, Field(gt=0, le=INT_MAX)]
"""A GitHub issue number, stored as ``integer``."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc), WithJsonSchema({
    "type": "string", "format": "date-time",
    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$",
    "description": "an RFC 3339 time with its zone (a time without one is refused)"}, mode="validation")]

_PRINTABLE = r"[^\x00-\x1f\x7f]"


def _clean_text(value: str) -> str:
    # Postgres refuses NUL in text. A lone surrogate, which UTF-8 cannot encode, never gets here:
    # pydantic-core refuses it in any str (string_unicode), as the JSON parser does.
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


class _NoFinalNewline:
    """Ends a schema's pattern with ``(?!\\n)``: Python's ``re`` (which ``jsonschema`` uses) lets ``$``
    match before a final newline, so ``^[^\\x00-\\x1f]+$`` would accept ``"id\\n"`` there while
    the model, and an ECMA-262 validator, refuse it."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        if schema.get("pattern", "").endswith("$"):
            schema["pattern"] += r"(?!\n)"
        return schema


Text = Annotated[str, AfterValidator(_clean_text)]
"""Free text (reasons, messages, notes): newlines allowed, NUL and lone surrogates not."""
Label = Annotated[str, StringConstraints(pattern=f"^{_PRINTABLE}*$"), AfterValidator(_clean_text), _NoFinalNewline()]
"""A name (a mode, a stage, a version, a reason code): no control characters."""

Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,5}([.\-/][A-Z]{1,2})?$")]
"""A US equity ticker: one to five capitals with an optional share-class suffix (``BRK.B``)."""

Account = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=f"^{_PRINTABLE}+$"),
                       AfterValidator(_clean_text), _NoFinalNewline()]
"""An id: 1-200 characters, none of them a control character (NUL included) or a lone surrogate."""

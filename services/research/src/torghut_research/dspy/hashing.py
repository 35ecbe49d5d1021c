"""Canonical JSON and ``hash_payload``: the byte form every DSPy hash is taken over (research-lane.md §4.1).

Canonical JSON is upstream's: keys sorted, separators ``,`` and ``:`` without spaces, non-ASCII
escaped as ``\\uXXXX``; a hash is the lowercase hex SHA-256 of its UTF-8 bytes. For every value
upstream's ``json.dumps`` renders (strings, ints, booleans, null and floats in Python's ordinary
range such as ``0.995`` or ``1.0``) the bytes are the same, so the hashes agree with upstream's.

Where ``json.dumps`` is not deterministic across producers or not JSON at all, the rule is fixed
here instead of left to chance:

- **Floats** are written as the shortest decimal that round-trips (Python's ``repr``), but always in
  positional notation with at least one fractional digit: ``1e-05`` -> ``0.00001``, ``1e+16`` ->
  ``10000000000000000.0``, ``2.0`` -> ``2.0``. A producer in another language that writes the
  exponent form would otherwise get a different hash for the same number. ``-0.0`` is ``0.0``.
- **NaN and infinities** are refused (``json.dumps`` writes ``NaN``, which is not JSON, and a
  metric that is NaN is not a measurement).
- **Decimals** are written like the float of the same decimal value: normalised, positional, with
  at least one fractional digit (``Decimal("0.9950")`` -> ``0.995``, ``Decimal("2")`` -> ``2.0``),
  so a value read as a Decimal and the same value read as a float hash the same. Their full
  precision is kept (``json.dumps`` refuses Decimals).
- **Integers** (not booleans) are written in full, however large.
- **Datetimes** must carry a time zone; they are written as ISO-8601 strings in UTC with ``Z``.
- **Mappings** need string keys: ``json.dumps`` would turn ``1`` into ``"1"`` and let two different
  keys collide. Tuples are lists; sets are refused (no order); anything else is refused too.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


class CanonicalJsonError(TypeError):
    """A value that has no canonical JSON form; the message names where it is (``$.a.b[2]``)."""


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (ASCII only, so its UTF-8 bytes are the text's bytes)."""
    parts: list[str] = []
    _encode(value, parts, "$")
    return "".join(parts)


def canonical_bytes(value: Any) -> bytes:
    """The file form: canonical JSON and one final newline."""
    return (canonical_json(value) + "\n").encode("ascii")


def hash_payload(value: Any) -> str:
    """Lowercase hex SHA-256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode("ascii")).hexdigest()


def format_float(number: float) -> str:
    """Shortest round-trip decimal, positional, at least one fractional digit; refuses NaN and infinities."""
    if not math.isfinite(number):
        raise CanonicalJsonError(f"{number!r} is not a finite number")
    if number == 0:
        return "0.0"
    return _positional(Decimal(repr(number)))


def format_decimal(number: Decimal) -> str:
    if not number.is_finite():
        raise CanonicalJsonError(f"{number!r} is not a finite number")
    if number.is_zero():
        return "0.0"
    return _positional(number.normalize())


def _positional(number: Decimal) -> str:
    text = format(number, "f")
    return text if "." in text else text + ".0"


def _encode(value: Any, out: list[str], where: str) -> None:
    if value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=True))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_guard(format_float, value, where))
    elif isinstance(value, Decimal):
        out.append(_guard(format_decimal, value, where))
    elif isinstance(value, Enum):
        _encode(value.value, out, where)
    elif isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise CanonicalJsonError(f"{where}: datetime {value.isoformat()} has no time zone")
        out.append(json.dumps(value.astimezone(UTC).isoformat().replace("+00:00", "Z")))
    elif isinstance(value, Mapping):
        keys = list(value.keys())
        for key in keys:
            if not isinstance(key, str):
                raise CanonicalJsonError(f"{where}: key {key!r} is not a string")
        out.append("{")
        for index, key in enumerate(sorted(keys)):
            if index:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=True))
            out.append(":")
            _encode(value[key], out, f"{where}.{key}")
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out, f"{where}[{index}]")
        out.append("]")
    else:
        raise CanonicalJsonError(f"{where}: {type(value).__name__} has no canonical JSON form")


def _guard(render: Any, value: Any, where: str) -> str:
    try:
        text: str = render(value)
    except CanonicalJsonError as exc:
        raise CanonicalJsonError(f"{where}: {exc}") from None
    return text

"""Hypothesis strategies that turn a valid message into the hostile input a real producer may send.

Each mutation starts from a valid body (a topic's example, a decision request, a GitHub delivery)
and breaks it one way: a field set to a value of the wrong kind or out of range (``"1e999999"``,
``"NaN"``, a NUL, 40 nines), a field removed or a junk one added, nesting hundreds deep, a string
near the size limit, a truncated or non-UTF-8 body, or bytes that are not JSON at all.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

ODD_STRINGS = ["NaN", "Infinity", "-Infinity", "1e999999", "-1e999999", "1E+5", "0", "-0", "-5", "",
               "twelve", "9" * 40, "0." + "0" * 30 + "1", "\u0000", "a\u0000b", "\ud7ff", "\u202e", "🚀",
               "2026-02-12T15:31:02", "2026-13-45T99:99:99Z", "torghut.ta.signals.v2"]

LEAVES = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=24),
    st.sampled_from(ODD_STRINGS),
)


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def json_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        LEAVES,
        st.lists(LEAVES, max_size=4),
        st.dictionaries(st.text(max_size=8), LEAVES, max_size=4),
        st.integers(min_value=40, max_value=400).map(nested),
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a JSON value (dict keys and list indexes), parents before children."""
    out: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        path = (*prefix, key)
        out.append(path)
        out.extend(_paths(child, path))
    return out


def _set(value: Any, path: tuple[Any, ...], new: Any) -> None:
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


def _delete(value: Any, path: tuple[Any, ...]) -> None:
    for key in path[:-1]:
        value = value[key]
    if isinstance(value, dict):
        del value[path[-1]]
    else:
        value.pop(path[-1])


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any], *, big: int = 1_100_000) -> bytes:
    """``valid`` broken one way (or left as it is, now and then: the valid path must keep working)."""
    kind = draw(st.sampled_from(["set", "set", "set", "delete", "add", "valid", "deep", "big", "truncate",
                                 "garbage", "not-utf8", "wrong-type"]))
    body = copy.deepcopy(valid)
    paths = _paths(body)
    if kind == "set" and paths:
        _set(body, draw(st.sampled_from(paths)), draw(json_values()))
    elif kind == "delete" and paths:
        _delete(body, draw(st.sampled_from(paths)))
    elif kind == "add":
        body[draw(st.text(min_size=1, max_size=12))] = draw(json_values())
    elif kind == "deep":
        body[draw(st.sampled_from([*body, "extra"]))] = nested(draw(st.integers(min_value=60, max_value=100_000)))
    elif kind == "big":
        target = draw(st.sampled_from([p for p in paths if isinstance(p[-1], str)] or [("extra",)]))
        _set(body, target, "x" * draw(st.integers(min_value=big - 4096, max_value=big)))
    elif kind == "truncate":
        raw = json.dumps(body).encode()
        return raw[: draw(st.integers(min_value=0, max_value=max(0, len(raw) - 1)))]
    elif kind == "garbage":
        return draw(st.binary(max_size=200))
    elif kind == "not-utf8":
        return json.dumps(body).encode().replace(b'"', b'"\xff', 1)
    elif kind == "wrong-type":
        return json.dumps(draw(st.one_of(LEAVES, st.lists(LEAVES, max_size=3)))).encode()
    return _dumps(body)


def _dumps(value: Any) -> bytes:
    """JSON text of ``value``, written without recursion (``json.dumps`` cannot write 100,000 levels)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass")
    except RecursionError:
        return _dumps_deep(value)


def _dumps_deep(value: Any) -> bytes:
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Raw):
            parts.append(item.text)
        elif isinstance(item, list):
            parts.append("[")
            stack.append(_Raw("]"))
            for index, child in reversed(list(enumerate(item))):
                stack.append(child)
                if index:
                    stack.append(_Raw(","))
        elif isinstance(item, dict):
            parts.append("{")
            stack.append(_Raw("}"))
            for index, (key, child) in reversed(list(enumerate(item.items()))):
                stack.append(child)
                stack.append(_Raw(json.dumps(key) + ":"))
                if index:
                    stack.append(_Raw(","))
        else:
            parts.append(json.dumps(item, allow_nan=False))
    return "".join(parts).encode("utf-8", "surrogatepass")


class _Raw:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

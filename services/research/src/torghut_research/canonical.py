"""Canonical JSON and hashes: what makes two runs over the same inputs byte-identical.

Every artifact is written with sorted keys, two-space indent and a final newline; floats are
rounded to twelve significant digits, so a last-bit difference in a sum never changes a file.
Hashes are lowercase hex SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

SIGNIFICANT_DIGITS = 12


def plain(value: Any) -> Any:
    """``value`` as JSON-ready builtins: numpy scalars unwrapped, floats rounded, non-finite as None."""
    kind = type(value)
    if kind is str or value is None:  # the common leaves first: a large artifact is mostly strings
        return value
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return None
        return float(f"{number:.{SIGNIFICANT_DIGITS}g}") + 0.0  # + 0.0: no negative zero
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Path):
        return value.as_posix()
    return value


def dumps(value: Any) -> str:
    """The artifact form: sorted keys, indent 2, a final newline."""
    return json.dumps(plain(value), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def compact(value: Any) -> str:
    """The hashed form: sorted keys, no spaces."""
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def hash_of(value: Any) -> str:
    return sha256(compact(value))

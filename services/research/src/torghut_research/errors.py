"""The one error a user of the lane sees for bad input: a line that names the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Input the lane cannot use; the message names where it came from and what is wrong."""


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object file; :class:`InputError` says which file could not be read, parsed or was no object."""
    try:
        raw = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: the {what} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: the {what} must be a JSON object, got {type(raw).__name__}")
    return raw

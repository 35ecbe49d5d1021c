"""JSON error answers both HTTP surfaces share (the body reading and parsing is the runtime's)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from torghut_runtime.http_input import HttpInputError


def error(status: int, code: str, detail: str = "", **extra: Any) -> JSONResponse:
    content: dict[str, Any] = {"error": code, **extra}
    if detail:
        content["detail"] = detail[:1000]
    return JSONResponse(content, status_code=status)


def refused(exc: HttpInputError) -> JSONResponse:
    return error(exc.status, exc.code, exc.detail)

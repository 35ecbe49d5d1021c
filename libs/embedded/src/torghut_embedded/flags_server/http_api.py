"""The HTTP routes: Flipt's ``/evaluate/v1/*``, OFREP's ``/ofrep/v1/evaluate/flags``, ``/health``, bearer auth."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .evaluation import DEFAULT_REASON, MATCH_REASON, evaluate_boolean
from .features_file import FlagDef, Namespace
from .request_bodies import _BadRequest, _context, _eval_request, _EvalRequest, _string_field
from .store import FlagStore

# gRPC status codes Flipt's HTTP gateway puts in error bodies.
_INVALID_ARGUMENT, _NOT_FOUND, _UNAUTHENTICATED = 3, 5, 16

# The OFREP names of Flipt's evaluation reasons.
_OFREP_REASON = {DEFAULT_REASON: "DEFAULT", MATCH_REASON: "TARGETING_MATCH",
                 "FLAG_DISABLED_EVALUATION_REASON": "DISABLED", "UNKNOWN_EVALUATION_REASON": "UNKNOWN"}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _grpc_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": []}, status_code=status)


class FlagsApp:
    """The Starlette app over a :class:`FlagStore`; ``tokens`` turns bearer auth on."""

    def __init__(self, store: FlagStore, tokens: Iterable[str] = ()) -> None:
        self.store = store
        self.tokens = frozenset(t for t in tokens if t)
        self.requests = 0
        self.app = Starlette(routes=[
            Route("/health", self.health, methods=["GET"]),
            Route("/evaluate/v1/boolean", self.boolean, methods=["POST"]),
            Route("/evaluate/v1/batch", self.batch, methods=["POST"]),
            Route("/ofrep/v1/evaluate/flags", self.ofrep_bulk, methods=["POST"]),
            Route("/ofrep/v1/evaluate/flags/{key}", self.ofrep_flag, methods=["POST"]),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def _denied(self, request: Request) -> Response | None:
        self.requests += 1
        if not self.tokens:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() in self.tokens:
            return None
        return _grpc_error(401, _UNAUTHENTICATED, "request was not authenticated")

    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise _BadRequest(f"request body is not JSON: {exc}") from None

    def _lookup(self, namespace: str, key: str) -> tuple[Namespace, FlagDef] | None:
        ns = self.store.current().get(namespace)
        flag = None if ns is None else ns.flags.get(key)
        return None if ns is None or flag is None else (ns, flag)

    def _boolean_body(self, req: _EvalRequest, started: float) -> dict[str, Any] | None:
        found = self._lookup(req.namespace, req.flag_key)
        if found is None:
            return None
        result = evaluate_boolean(found[0], found[1], req.entity_id, req.context)
        return {"enabled": result.enabled, "reason": result.reason, "requestId": req.request_id,
                "requestDurationMillis": (time.perf_counter() - started) * 1000, "timestamp": _now_iso(),
                "flagKey": req.flag_key, "segmentKeys": list(result.segment_keys)}

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "SERVING"})

    async def boolean(self, request: Request) -> Response:
        started = time.perf_counter()
        if (denied := self._denied(request)) is not None:
            return denied
        try:
            req = _eval_request(await self._json(request))
        except _BadRequest as exc:
            return _grpc_error(400, _INVALID_ARGUMENT, str(exc))
        body = self._boolean_body(req, started)
        if body is None:
            return _grpc_error(404, _NOT_FOUND, f'flag "{req.namespace}/{req.flag_key}" not found')
        return JSONResponse(body)

    async def batch(self, request: Request) -> Response:
        started = time.perf_counter()
        if (denied := self._denied(request)) is not None:
            return denied
        try:
            raw = await self._json(request)
            if not isinstance(raw, Mapping) or not isinstance(raw.get("requests"), list):
                raise _BadRequest("requests must be a list")
            batch_id = _string_field(raw, "requestId", "request_id") or str(uuid.uuid4())
            requests = [_eval_request({**r, "requestId": batch_id} if isinstance(r, Mapping) else r)
                        for r in raw["requests"]]
        except _BadRequest as exc:
            return _grpc_error(400, _INVALID_ARGUMENT, str(exc))
        responses: list[dict[str, Any]] = []
        for req in requests:
            body = self._boolean_body(req, started)
            if body is None:
                responses.append({"type": "ERROR_EVALUATION_RESPONSE_TYPE", "errorResponse": {
                    "flagKey": req.flag_key, "namespaceKey": req.namespace,
                    "reason": "NOT_FOUND_ERROR_EVALUATION_REASON"}})
            else:
                responses.append({"type": "BOOLEAN_EVALUATION_RESPONSE_TYPE", "booleanResponse": body})
        return JSONResponse({"requestId": batch_id, "responses": responses,
                             "requestDurationMillis": (time.perf_counter() - started) * 1000})

    def _ofrep_context(self, raw: Any) -> tuple[str, dict[str, str]]:
        if not isinstance(raw, Mapping):
            raise _BadRequest("request body must be a JSON object")
        context = _context(raw.get("context"), stringify=True)
        return context.pop("targetingKey", ""), context

    @staticmethod
    def _ofrep_body(ns: Namespace, flag: FlagDef, entity_id: str, context: Mapping[str, str]) -> dict[str, Any]:
        result = evaluate_boolean(ns, flag, entity_id, context)
        metadata: dict[str, Any] = {}
        if result.segment_keys:
            metadata["segmentKeys"] = ",".join(result.segment_keys)
        return {"key": flag.key, "reason": _OFREP_REASON[result.reason], "variant": str(result.enabled).lower(),
                "value": result.enabled, "metadata": metadata}

    async def ofrep_flag(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        key = request.path_params["key"]
        namespace = request.headers.get("x-flipt-namespace") or "default"
        try:
            entity_id, context = self._ofrep_context(await self._json(request))
        except _BadRequest as exc:
            return JSONResponse({"key": key, "errorCode": "INVALID_CONTEXT", "errorDetails": str(exc)}, 400)
        found = self._lookup(namespace, key)
        if found is None:
            return JSONResponse({"key": key, "errorCode": "FLAG_NOT_FOUND",
                                 "errorDetails": f'flag "{namespace}/{key}" not found'}, 404)
        return JSONResponse(self._ofrep_body(found[0], found[1], entity_id, context))

    async def ofrep_bulk(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        namespace = request.headers.get("x-flipt-namespace") or "default"
        try:
            entity_id, context = self._ofrep_context(await self._json(request))
        except _BadRequest as exc:
            return JSONResponse({"errorCode": "INVALID_CONTEXT", "errorDetails": str(exc)}, 400)
        ns = self.store.current().get(namespace) or Namespace(namespace)
        return JSONResponse({"flags": [self._ofrep_body(ns, f, entity_id, context) for f in ns.flags.values()]})


def create_app(paths: Sequence[str | Path], *, tokens: Iterable[str] = (), check_interval_s: float = 0.5) -> FlagsApp:
    """An ASGI app serving ``paths``; raises :class:`FeaturesFileError` if they do not parse."""
    return FlagsApp(FlagStore(paths, check_interval_s=check_interval_s), tokens)

"""The AsyncAPI 3 document of a service, and of the suite: FastStream's, from the declared subscribers and
publishers, with every channel's message set to its topic's contract.

FastStream documents a publisher declared with ``schema=`` completely. A consumed topic's
subscriber has no FastStream handler (:mod:`.kafka.fetching` says why), so FastStream knows its
address but not its payload: that comes from the topic registry (``torghut_contracts.topics``),
the same ``TopicSpec`` the records are decoded with. Each service serves its document at
``/asyncapi.yaml`` and ``/asyncapi.json``; ``make asyncapi`` writes the suite's into
``docs/asyncapi.yaml`` (``scripts/asyncapi.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

import yaml
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .kafka import KafkaWiring
from .settings import ServiceSettings


class Documented(Protocol):
    """What a document is made from (a :class:`~.service.ServiceRuntime`): its settings, broker and wiring."""

    settings: ServiceSettings
    broker: KafkaBroker
    kafka: KafkaWiring

SCHEMAS = "#/components/schemas/"


def contracts_version() -> str:
    try:
        return version("torghut-contracts")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "0"


def service_document(runtime: Documented) -> dict[str, Any]:
    """The service's channels: what it consumes (receive) and produces (send), each with its contract.

    Declares the service's consumers first if it has not started yet (what start does first), so a
    service assembled and never started is documented whole."""
    runtime.kafka.register_consumers()
    settings = runtime.settings
    spec = AsyncAPI(runtime.broker, title=f"torghut {settings.service_name}", version=contracts_version(),
                    description=f"The Kafka topics torghut's {settings.service_name} reads and writes.")
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    consumed = {settings.topic_name(s.name): s for s in runtime.kafka.consumed()}
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for operation in document.get("operations", {}).values():
        channel = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        topic_spec = consumed.get(channel["address"])
        if operation["action"] != "receive" or topic_spec is None:
            continue
        channel["description"] = topic_spec.description
        for reference in channel["messages"].values():
            message = components["messages"][reference["$ref"].rsplit("/", 1)[1]]
            placeholder = message["payload"].get("$ref", "").removeprefix(SCHEMAS)
            schemas.pop(placeholder, None)
            message["payload"] = {"$ref": SCHEMAS + add_schema(schemas, topic_spec.model)}
    return document


def add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> str:
    """Put ``model``'s JSON schema (and the models it refers to) into ``schemas``; its name."""
    schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault(model.__name__, schema)
    return model.__name__


def suite_document(documents: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The services' documents as one: their channels, operations and components side by side.

    Channel and operation names carry the service (``risk-firewall:torghut.decisions.v1``), so they
    never collide; a schema two services share is the same contract model, and must be the same.
    """
    suite: dict[str, Any] = {"asyncapi": "3.0.0", "info": {
        "title": "torghut", "version": contracts_version(),
        "description": "Every Kafka topic torghut's services read (receive) and write (send), with its contract."},
        "defaultContentType": "application/json", "servers": {}, "channels": {}, "operations": {},
        "components": {"messages": {}, "schemas": {}}}
    for document in documents:
        suite["servers"].update(document.get("servers", {}))
        for section in ("channels", "operations"):
            suite[section].update(document.get(section, {}))
        for section in ("messages", "schemas"):
            for name, value in document.get("components", {}).get(section, {}).items():
                if suite["components"][section].setdefault(name, value) != value:
                    raise ValueError(f"components.{section}.{name} differs between services")
    for section in ("channels", "operations"):
        suite[section] = dict(sorted(suite[section].items()))
    for section in ("messages", "schemas"):
        suite["components"][section] = dict(sorted(suite["components"][section].items()))
    return suite


def as_yaml(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=100)


def asyncapi_routes(runtime: Documented) -> list[BaseRoute]:
    """``GET /asyncapi.yaml`` and ``/asyncapi.json``: the service's document, built on first request."""
    built: dict[str, Any] = {}

    def document() -> dict[str, Any]:
        if not built:
            built.update(service_document(runtime))
        return built

    async def as_json(_: Request) -> Response:
        return JSONResponse(document())

    async def as_text(_: Request) -> Response:
        return Response(as_yaml(document()), media_type="application/yaml")

    return [Route("/asyncapi.json", as_json, methods=["GET"]), Route("/asyncapi.yaml", as_text, methods=["GET"])]


def topics_in(document: Mapping[str, Any]) -> dict[str, set[str]]:
    """Every topic of a document, with the actions on it (``receive``, ``send``)."""
    found: dict[str, set[str]] = {}
    for operation in document.get("operations", {}).values():
        channel = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        found.setdefault(channel["address"], set()).add(operation["action"])
    return found


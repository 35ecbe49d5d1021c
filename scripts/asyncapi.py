"""Write docs/asyncapi.yaml: every service's declared Kafka channels, each with its contract.

    uv run python scripts/asyncapi.py            # (make asyncapi) write it
    uv run python scripts/asyncapi.py --check    # exit 1 if it is stale or off the topic registry

Each service is assembled by its own ``build_runtime`` (nothing connects: the broker and the
database are only declared) and documented by ``torghut_runtime.asyncapi``. The check also holds
the document to the registry: every topic of ``torghut_contracts.topics.ALL_TOPICS`` is in it, read
or written by some service, and every channel address is a registry topic or its dead-letter topic.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from torghut_contracts import topics
from torghut_runtime.asyncapi import as_yaml, service_document, suite_document, topics_in

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "asyncapi.yaml"
#: The services with Kafka topics, by package (the decision-engine is HTTP only).
SERVICES = ("torghut_market_data", "torghut_ta", "torghut_clickhouse_sink", "torghut_signal_trigger",
            "torghut_decision_client", "torghut_risk_firewall", "torghut_execution_router", "torghut_whitepaper_ingest",
            "torghut_operator_console")
#: Just enough configuration to assemble a service; nothing connects.
ENVIRONMENT = {"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", "DATABASE_URL": "postgresql+asyncpg://torghut@postgres/torghut",
               "TOPIC_PREFIX": "", "GITHUB_WEBHOOK_SECRET": "documentation", "WHITEPAPER_WORKFLOW_ENABLED": "true",
               "MARKET_DATA_SYMBOLS": "AAPL", "ALPACA_API_KEY_ID": "documentation",
               "ALPACA_API_SECRET_KEY": "documentation", "CLICKHOUSE_URL": "clickhouse://documentation@clickhouse/torghut"}


def service_documents() -> list[dict[str, Any]]:
    os.environ.update(ENVIRONMENT)
    documents = []
    for package in SERVICES:
        app = importlib.import_module(f"{package}.app")
        settings_module = importlib.import_module(f"{package}.settings")
        settings_cls = next(v for k, v in vars(settings_module).items()
                            if k.endswith("Settings") and getattr(v, "__module__", "") == settings_module.__name__)
        runtime = app.build_runtime(settings_cls())
        documents.append(service_document(runtime))
    return documents


def registry_problems(document: dict[str, Any]) -> list[str]:
    found = topics_in(document)
    known = {spec.name for spec in topics.ALL_TOPICS}
    problems = [f"{spec.name}: no service reads or writes it" for spec in topics.ALL_TOPICS if spec.name not in found]
    problems += [f"{address}: not a registry topic" for address in found
                 if address not in known and address.removesuffix(topics.DLQ_SUFFIX) not in known]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/asyncapi.yaml is stale")
    args = parser.parse_args()
    document = suite_document(service_documents())
    problems = registry_problems(document)
    text = as_yaml(document)
    if args.check:
        if OUTPUT.read_text() != text if OUTPUT.exists() else True:
            problems.append(f"{OUTPUT.relative_to(ROOT)} is stale: run `make asyncapi`")
    else:
        OUTPUT.write_text(text)
        print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(document['channels'])} channels)")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

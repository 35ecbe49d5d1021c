"""Which Kafka broker a command talks to: the flag, the environment, or the running ``make infra`` stack."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CliError

STACK_ENV = Path(".torghut/infra/stack.env")


def resolve_bootstrap(flag: str | None) -> str:
    if flag:
        return flag
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    if STACK_ENV.exists():
        for line in STACK_ENV.read_text().splitlines():
            if line.startswith("KAFKA_BOOTSTRAP_SERVERS="):
                return line.split("=", 1)[1].strip()
    raise CliError("no broker: pass --bootstrap, set KAFKA_BOOTSTRAP_SERVERS, or start `make infra`")

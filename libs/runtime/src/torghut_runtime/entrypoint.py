"""A service's ``main``: settings, assembly, serve; a configuration error exits 2 naming the variable."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from .service import ServiceRuntime
from .settings import ConfigError, ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def serve(program: str, load: Callable[[], S], build: Callable[[S], ServiceRuntime]) -> None:
    """Load settings and assemble the service, then serve until SIGTERM.

    Assembly is inside the guard too: a strategy book or a limits file is configuration, and a bad
    one must stop start-up with the same readable message, never a traceback.
    """
    try:
        runtime = build(load())
    except ConfigError as exc:
        print(f"{program}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    runtime.run()

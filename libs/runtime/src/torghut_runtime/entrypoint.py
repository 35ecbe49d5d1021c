"""A service's ``main``: settings, assembly, serve; a configuration error exits 2 naming the variable."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import structlog

from .service import ServiceRuntime
from .settings import ConfigError, ServiceSettings

S = TypeVar("S", bound=ServiceSettings)

log = structlog.get_logger("torghut.runtime")


def serve(program: str, load: Callable[[], S], build: Callable[[S], ServiceRuntime]) -> None:
    """Load settings and assemble the service, then serve until SIGTERM.

    Assembly is inside the guard too: a strategy book or a limits file is configuration, and a bad
    one must stop start-up with the same readable message, never a traceback.
    """
    try:
        settings = load()
        runtime = build(settings)
    except ConfigError as exc:
        print(f"{program}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    warn_renamed_variables(settings)
    runtime.run()


def warn_renamed_variables(settings: ServiceSettings) -> None:
    """One warning per deprecated variable name in use, once logging is configured (by ``build``)."""
    for renamed in settings.renamed_variables_in_use:
        log.warning("deprecated environment variable", variable=renamed.old, replaced_by=renamed.new,
                    hint=f"set {renamed.new}={getattr(settings, renamed.field)} instead; {renamed.old} "
                         "will stop being read")

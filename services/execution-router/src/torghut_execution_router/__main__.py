"""``torghut-execution-router``: load settings (a bad variable exits 2 naming it), build, serve."""

from __future__ import annotations

import sys

from torghut_runtime import ConfigError, load_settings

from .app import build_runtime
from .settings import ExecutionRouterSettings


def main() -> None:
    try:
        settings = load_settings(ExecutionRouterSettings)
    except ConfigError as exc:
        print(f"execution-router: {exc}", file=sys.stderr)
        sys.exit(2)
    build_runtime(settings).run()


if __name__ == "__main__":
    main()

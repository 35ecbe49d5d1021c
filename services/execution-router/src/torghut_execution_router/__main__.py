"""``torghut-execution-router``: load settings (a bad variable exits 2 naming it), build, serve."""

from __future__ import annotations

from torghut_runtime import load_settings
from torghut_runtime.entrypoint import serve

from .app import build_runtime
from .settings import ExecutionRouterSettings


def main() -> None:
    serve("torghut-execution-router", lambda: load_settings(ExecutionRouterSettings), build_runtime)


if __name__ == "__main__":
    main()

"""``torghut-operator-console``: load settings (exit 2 on a config error), serve."""

from __future__ import annotations

from torghut_runtime import load_settings
from torghut_runtime.entrypoint import serve

from .app import build_runtime
from .settings import ConsoleSettings


def main() -> None:
    serve("torghut-operator-console", lambda: load_settings(ConsoleSettings), build_runtime)


if __name__ == "__main__":
    main()

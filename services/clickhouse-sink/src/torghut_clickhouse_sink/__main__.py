"""``torghut-clickhouse-sink``: load settings (exit 2 on a config error), serve."""

from __future__ import annotations

from torghut_runtime import load_settings
from torghut_runtime.entrypoint import serve

from .app import build_runtime
from .settings import SinkSettings


def main() -> None:
    serve("torghut-clickhouse-sink", lambda: load_settings(SinkSettings), build_runtime)


if __name__ == "__main__":
    main()

"""``torghut-market-data``: load settings (exit 2 naming a bad variable), then serve."""

from __future__ import annotations

from torghut_runtime import load_settings
from torghut_runtime.entrypoint import serve

from .app import build_runtime
from .settings import MarketDataSettings


def main() -> None:
    serve("torghut-market-data", lambda: load_settings(MarketDataSettings), build_runtime)


if __name__ == "__main__":
    main()

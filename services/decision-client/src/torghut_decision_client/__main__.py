"""``torghut-decision-client``: load settings (a config error exits 2 with the message), build, serve."""

from __future__ import annotations

from torghut_runtime import load_settings
from torghut_runtime.entrypoint import serve

from .settings import DecisionClientSettings


def main() -> None:
    from .app import build_runtime

    serve("torghut-decision-client", lambda: load_settings(DecisionClientSettings), build_runtime)


if __name__ == "__main__":
    main()

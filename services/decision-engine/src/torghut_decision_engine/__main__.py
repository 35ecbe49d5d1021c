"""``torghut-decision-engine``: load settings (a bad one exits 2 naming the variable), build, serve."""

from __future__ import annotations

from torghut_runtime import load_settings
from torghut_runtime.entrypoint import serve

from .settings import DecisionEngineSettings


def main() -> None:
    from .app import build_runtime

    serve("torghut-decision-engine", lambda: load_settings(DecisionEngineSettings), build_runtime)


if __name__ == "__main__":
    main()

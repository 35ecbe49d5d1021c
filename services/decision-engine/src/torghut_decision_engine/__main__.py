"""``torghut-decision-engine``: load settings (a bad one exits 2 naming the variable), build, serve."""

from __future__ import annotations

import sys

from torghut_runtime import ConfigError, load_settings

from .settings import DecisionEngineSettings


def main() -> None:
    try:
        settings = load_settings(DecisionEngineSettings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    from .app import build_runtime

    build_runtime(settings).run()


if __name__ == "__main__":
    main()

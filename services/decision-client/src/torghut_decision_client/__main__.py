"""``torghut-decision-client``: load settings (a config error exits 2 with the message), build, serve."""

from __future__ import annotations

import sys

from torghut_runtime import ConfigError, load_settings

from .settings import DecisionClientSettings


def main() -> None:
    from .app import build_runtime

    try:
        settings = load_settings(DecisionClientSettings)
        runtime = build_runtime(settings)
    except ConfigError as exc:
        print(f"torghut-decision-client: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    runtime.run()


if __name__ == "__main__":
    main()

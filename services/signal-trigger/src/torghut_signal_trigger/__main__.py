"""``torghut-signal-trigger``: load settings and the strategy book (exit 2 on a config error), serve."""

from __future__ import annotations

import sys

from torghut_runtime import ConfigError, load_settings

from .app import build_service
from .settings import SignalTriggerSettings


def main() -> None:
    try:
        settings = load_settings(SignalTriggerSettings)
        service = build_service(settings)
    except ConfigError as exc:
        print(f"torghut-signal-trigger: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    service.runtime.run()


if __name__ == "__main__":
    main()

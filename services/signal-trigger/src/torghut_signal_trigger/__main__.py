"""``torghut-signal-trigger``: load settings and the strategy book (exit 2 on a config error), serve."""

from __future__ import annotations

from torghut_runtime import load_settings
from torghut_runtime.entrypoint import serve

from .app import build_service
from .settings import SignalTriggerSettings


def main() -> None:
    serve("torghut-signal-trigger", lambda: load_settings(SignalTriggerSettings),
          lambda settings: build_service(settings).runtime)


if __name__ == "__main__":
    main()

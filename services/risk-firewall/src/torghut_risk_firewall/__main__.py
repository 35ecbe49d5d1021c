"""``torghut-risk-firewall``: load settings (a bad one exits 2 naming it), build, serve."""

from __future__ import annotations

import sys

from torghut_runtime import ConfigError

from .app import build_runtime
from .settings import load_firewall_settings


def main() -> None:
    try:
        settings = load_firewall_settings()
    except ConfigError as exc:
        print(f"torghut-risk-firewall: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    build_runtime(settings).run()


if __name__ == "__main__":
    main()

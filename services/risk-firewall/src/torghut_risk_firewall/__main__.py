"""``torghut-risk-firewall``: load settings (a bad one exits 2 naming it), build, serve."""

from __future__ import annotations

from torghut_runtime.entrypoint import serve

from .app import build_runtime
from .settings import load_firewall_settings


def main() -> None:
    serve("torghut-risk-firewall", load_firewall_settings, build_runtime)


if __name__ == "__main__":
    main()

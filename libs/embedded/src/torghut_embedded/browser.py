"""Debian's Chromium driven by Playwright, for the console's browser tests (no browser download).

Playwright's own ``playwright install`` fetches a browser from a CDN this machine cannot reach;
Debian's ``chromium`` package is installed instead (``scripts/ensure-chromium.sh``, run by
``make test``) and launched by path. The flags keep a headless Chromium from reaching for Google's
services, which a closed network refuses many times a second.
"""

from __future__ import annotations

import os
import shutil

INSTALL_HINT = ("Chromium is not installed: scripts/ensure-chromium.sh installs Debian's chromium package "
                "(or set TORGHUT_CHROMIUM to a Chromium binary)")
FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")


def chromium_path() -> str | None:
    configured = os.environ.get("TORGHUT_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")

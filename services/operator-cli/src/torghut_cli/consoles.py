"""Where the CLI prints: tables and JSON to stdout, progress and messages to stderr."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True)
out = Console()

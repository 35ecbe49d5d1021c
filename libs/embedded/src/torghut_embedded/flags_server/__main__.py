"""``python -m torghut_embedded.flags_server``: the server as its own process (``torghut-infra up`` runs it)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

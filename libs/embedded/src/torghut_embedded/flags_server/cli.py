"""The process entrypoint: ``python -m torghut_embedded.flags_server --file F [--host H] [--port P]``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .features_file import FeaturesFileError
from .http_api import create_app

log = logging.getLogger("torghut_embedded.flags_server")

TOKEN_ENV = "TORGHUT_FLAGS_SERVER_TOKEN"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m torghut_embedded.flags_server --file F [--file F2] [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="torghut-flags-server",
                                     description="Flipt-compatible flag evaluation server over features.yaml")
    parser.add_argument("--file", action="append", required=True, type=Path, help="features.yaml (repeatable)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8013)
    parser.add_argument("--check-interval", type=float, default=0.5, help="seconds between file change checks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    tokens = [t.strip() for t in os.environ.get(TOKEN_ENV, "").split(",") if t.strip()]
    try:
        app = create_app(args.file, tokens=tokens, check_interval_s=args.check_interval)
    except FeaturesFileError as exc:
        print(f"torghut-flags-server: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    log.info("serving %s on http://%s:%d (auth %s)", [str(f) for f in args.file], args.host, args.port,
             "on" if tokens else "off")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off", access_log=False)
    return 0

"""Serve an ASGI app on a free loopback port inside the running event loop (the embedded library's)."""

from torghut_embedded.asgi import serve

__all__ = ["serve"]

"""Alpaca: alpaca-py's REST client (``client``), its trade-update stream (``stream``), reading its JSON
(``wire``) and the rate limiter fed by its headers (``ratelimiter``)."""

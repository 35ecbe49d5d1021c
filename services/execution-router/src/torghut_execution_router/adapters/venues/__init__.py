"""The venues, one folder each (``alpaca``, ``lean``, ``paper``), behind the interface in ``base``.

A venue's package imports nothing heavy itself: alpaca-py (pandas, numpy) is loaded only when Alpaca
is configured.
"""

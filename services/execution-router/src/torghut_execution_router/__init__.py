"""Torghut execution-router: approved orders to Alpaca, a LEAN runner or the built-in paper venue."""

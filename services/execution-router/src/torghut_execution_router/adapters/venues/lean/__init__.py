"""A LEAN runner over HTTP (``client``); its contract's pure rules are ``domain.lean_contract``."""

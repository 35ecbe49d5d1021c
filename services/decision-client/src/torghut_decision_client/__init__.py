"""Torghut decision-client: strategy triggers in, decisions (engine intent or fail-closed hold) out."""

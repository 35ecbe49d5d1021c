"""The risk firewall: the deterministic final authority between a decision and an order.

The decision engine is advisory; this service decides. Every decision gets one verdict, an
approval carries a ``client_order_id`` derived from the decision, and portfolio state lives in
Postgres so that a restart resumes with the same exposure.
"""

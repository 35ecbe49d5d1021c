"""Whitepaper workflow: a GitHub issue carrying a paper becomes a stored PDF and a research AgentRun."""

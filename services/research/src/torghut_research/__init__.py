"""The research lane: prove a strategy by walk-forward, pass it through fail-closed gates, propose it to paper.

Not a consumer loop: a deterministic batch program (``torghut-research lane``), run by hand, as a
Kubernetes Job or a compose profile. Its strategies are the live ones (``torghut_strategies``), its
output is a set of artifacts chained by hashes and, only when every paper gate passes, a patch of
signal-trigger's strategy file.
"""

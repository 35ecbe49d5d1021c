"""Janus-Q evidence (research-lane.md §5): event/CAR over the lane's signals and the HGRM reward of its decisions.

* :mod:`.events`: every signal is an event; its cumulative abnormal return (CAR) over the next
  ``event_window_bars`` bars of its own (symbol, stream) against the cross-sectional market mean;
  direction and strong/weak labels; a dataset manifest and lineage hashes.
* :mod:`.hgrm`: the Hierarchical Gated Reward of each out-of-sample decision of the walk-forward:
  a hard direction gate, a soft event-type gate, cost-aware P&L, magnitude and process shaping, clipping.
* :mod:`.evidence`: the ``janus-q-evidence-v1`` summary that gate6 and the promotion prerequisites read,
  and the checks that recompute the artifacts' hashes.

Everything here is a pure function of its arguments: no I/O, no clock.
"""

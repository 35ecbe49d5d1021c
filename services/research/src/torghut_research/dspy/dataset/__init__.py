"""The DSPy data set: labelled trade decisions from what the suite recorded (``torghut replay dump`` files).

``torghut-research dspy dataset --dump <file|dir> --output-dir D --created-at TS`` reads, from the dump:

* ``torghut.decisions.v1``: one example per decision (by ``decision_id``; a republished duplicate
  counts once);
* ``torghut.triggers.v1``: the decision's trigger, by ``request_id`` (required: a decision whose
  trigger is not in the dump is an error);
* ``torghut.ta.signals.v1``: the trigger's own bar (by symbol and ``signal_seq``, required) and what
  the price did next (read with :func:`torghut_research.sources.load_signals`, the lane's reader);
* ``torghut.risk.verdicts.v1``: the firewall's verdict on the decision, by ``decision_id`` (optional);
* ``torghut.trade-updates.v1``: the decision's fills, by ``decision_id`` (optional; recorded only);
* ``torghut.account.snapshots.v1``: the portfolio the decision-client knew: the account's latest
  snapshot the broker took before the decision (optional, see below).

**Input** of an example is the program's one input field, ``request_json``: the decision request
exactly as the decision-client sends it (``DecisionRequest.model_dump_json()``: trigger with its
features, portfolio, risk policy, execution context). The portfolio is the latest snapshot of the
decision's account whose record time is at or before the decision's record time (what the client
had read); with no such snapshot, a flat portfolio of ``default_equity`` (``portfolioSource:
default`` in the example). The risk policy and execution context are the decision-client's defaults
unless given (the dump does not carry the client's settings).

**Label** (rule ``forward-return-net-of-costs-v1``):

1. ``move_bps`` = (price ``horizon_bars`` bars of the same symbol after the trigger's bar −
   trigger price) / trigger price × 10,000;
2. ``cost_bps`` = the round trip: the trigger bar's spread (``spread_bps``, else
   ``default_spread_bps``) plus twice ``slippage_bps``;
3. ``right_action`` = buy when ``move_bps > cost_bps``, sell when ``move_bps < -cost_bps``, else hold
   (a move within costs earns nothing);
4. ``firewall_vetoed`` = the verdict on a buy or sell decision (true: veto, false: approve); null for
   a hold decision (the firewall "vetoes" every hold with ``decision_hold``: not a judgement) or
   when no verdict was recorded;
5. the target ``action`` = ``right_action``, except hold when the firewall vetoed the recorded
   trade: a proposal the firewall refuses does nothing (at best), so the right proposal is one that
   is both right about the price and executable; ``right_action`` stays in the label.

The other output fields make the label a complete worked example: ``qty`` =
``floor(max_notional_per_trade / price)`` (at least 1) for a buy or sell, 0 for a hold; ``confidence``
0.7; ``rationale`` states the move against the costs; ``risk_flags`` are the firewall's reason codes
when it vetoed. A decision whose horizon runs past the dump's last bar of its symbol cannot be
labelled: it is left out and listed under ``excluded`` with its reason, never dropped silently.

**Janus event** (``label.janusEvent``, what the ``janus-hgrm-v1`` metric scores against): the
trigger bar's event from :func:`torghut_research.janus.events.compute_events` over the dump's
signals, with ``event_window_bars = horizon_bars`` and ``strong_threshold``: its CAR (a return,
summed abnormal one-bar returns against the cross-sectional market mean), direction (``long``,
``short``, ``neutral``), event type and whether it is strong.

**Errors**: a record that does not parse as its contract, a decision without its trigger or a
trigger without its bar stops the build with :class:`InputError` naming the file and line, the
record (``topic:partition:offset``) and the field.

**Split**: an example is in ``eval`` when the first 8 hex digits of SHA-256(example id), read as an
integer over 2^32, are below ``eval_fraction``; else ``train``. Deterministic, independent of the
order and of the other examples.

**Hash**: ``datasetHash`` = ``hash_payload`` (canonical JSON) of the data set document without its
``createdAt``: the first link of the DSPy hash chain (``build_compile_result``'s ``dataset_hash``).
"""

from __future__ import annotations

from .build import build_dataset
from .document import (
    DATASET_FILE,
    DATASET_SCHEMA,
    INPUT_FIELDS,
    LABEL_RULE,
    OUTPUT_FIELDS,
    PROGRAM_NAME,
    canonical_chunks,
    dataset_body,
    dataset_hash,
    load_dataset,
    write_dataset,
)
from .dump_reading import FILLS, TOPICS_READ
from .labelling import LABEL_CONFIDENCE, split_of
from .parameters import DatasetConfig

__all__ = [
    "DATASET_FILE",
    "DATASET_SCHEMA",
    "FILLS",
    "INPUT_FIELDS",
    "LABEL_CONFIDENCE",
    "LABEL_RULE",
    "OUTPUT_FIELDS",
    "PROGRAM_NAME",
    "TOPICS_READ",
    "DatasetConfig",
    "build_dataset",
    "canonical_chunks",
    "dataset_body",
    "dataset_hash",
    "load_dataset",
    "split_of",
    "write_dataset",
]

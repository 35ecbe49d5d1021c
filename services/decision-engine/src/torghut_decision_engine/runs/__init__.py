"""Decision runs: each one an asyncio task of its own, persisted as it goes, bounded by a hard timeout.

A run is not tied to the HTTP connection that asked for it: streams only read its events from
Postgres. Restart policy: runs are **failed, not resumed** (``decision.error`` code
``engine_restarted``). A decision computed after a restart would rest on a trigger and a portfolio
that have aged by the restart, and a caller still waiting gets a definite fail-closed answer. A
graceful shutdown fails its own live runs at once; after a crash the runs' leases expire
(``DECISION_ENGINE_LEASE_TTL_S``) and whichever engine replica sees that fails them. Finished runs
keep their state and events across restarts.

Stages computed back to back (the skill bundle, the rules, the final) are committed together: one
transaction per stretch of work, not per event, since a stream could not tell the difference. Held
events are flushed before anything that lets time pass (a language model call, an injected stall or
sleep), so streams still see progress as it happens; event ids stay 1, 2, 3, ... either way
(:mod:`.journal`).

A deterministic run without an injected fault (other than ``drop-after``, which only cuts a stream)
lets no time pass at all: it is computed before the run is inserted, and the one statement that
creates the run stores it finished (the run row in its terminal state, every event). Nobody can
observe it half done, and its caller's stream is sent from the events just stored instead of
reading them back. The computation is wasted when the request id already has a run (a repeat), which
is rare and cheap; a computation that raises falls back to a task, which fails the run as before
(:mod:`.stages`).

Modules: :mod:`.policy` (what a run manager is configured with), :mod:`.stages` (the events each
stage produces), :mod:`.journal` (holding and committing a run's events), :mod:`.manager` (starting,
executing, reaping and shutting down runs).
"""

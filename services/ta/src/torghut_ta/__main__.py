"""``torghut-ta``: load settings (exit 2 on a config error), serve."""

from __future__ import annotations

import gc

from torghut_runtime import ServiceRuntime, load_settings
from torghut_runtime.entrypoint import serve

from .app import build_runtime
from .settings import TaSettings

GC_THRESHOLD = (10_000, 10, 10)
"""CPython's collector thresholds for this process (the default is (700, 10, 10)).

A batch of bars allocates tens of thousands of objects that live until its transaction ends (the
records, their spans, each series' unpickled state, the signals). With the default young threshold
they outlive a few young collections, are promoted, and the oldest generation grows fast enough to
be collected in full about once per batch: a fifth of the process's CPU at 500 series a batch
(``bench/ta.py``). Collected 14 times less often, they are mostly gone before a collection sees them.
"""


def build_tuned(settings: TaSettings) -> ServiceRuntime:
    """The runtime, with what start-up allocated (modules, schemas, the assembly) moved out of the
    collector's sight (``gc.freeze``): it lives as long as the process, and no collection need scan it."""
    runtime = build_runtime(settings)
    gc.set_threshold(*GC_THRESHOLD)
    gc.freeze()
    return runtime


def main() -> None:
    serve("torghut-ta", lambda: load_settings(TaSettings), build_tuned)


if __name__ == "__main__":
    main()

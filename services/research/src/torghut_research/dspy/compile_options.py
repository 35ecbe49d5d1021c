"""What one ``dspy compile`` is asked to do: :class:`CompileOptions`.

The options are read by :mod:`.compile`, which runs the compile, and by the parts it hands them to:
:mod:`.language_model` (``make_lm``: the LM's model, URL, key and timeout) and :mod:`.optimizers`
(``optimise``: the optimizer, seed and demo counts). They live here, apart from :mod:`.compile`, so
that those parts can take them without importing the module that imports them; ``dspy compile``
(:mod:`.cli`) builds them from its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..janus.settings import HgrmConfig
from .metrics import EXACT_ACTION


@dataclass(frozen=True)
class CompileOptions:
    optimizer: str
    seed: int
    lm_base_url: str
    lm_model: str
    lm_api_key: str | None = None
    max_demos: int = 16
    max_bootstrapped_demos: int = 4
    num_threads: int = 4
    timeout_s: float = 30.0
    eval_limit: int | None = None
    """Measure on the first ``eval_limit`` eval examples (data set order) only: bounds the LM calls."""
    metric: str = EXACT_ACTION
    hgrm: HgrmConfig = field(default_factory=HgrmConfig)

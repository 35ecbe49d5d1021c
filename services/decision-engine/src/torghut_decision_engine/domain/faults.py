"""The ``x-torghut-fault`` header (honoured only with DECISION_ENGINE_FAULT_INJECTION=true).

The decision-client's tests rely on exactly these names:

* ``stall``: accept, then nothing but heartbeats until the hard timeout (``decision.error`` code ``timeout``);
* ``slow:<seconds>``: sleep that long before ``decision.final``, heartbeats continue;
* ``error``: ``decision.error`` with code ``injected``;
* ``malformed-final``: a ``decision.final`` whose data violates :class:`DecisionFinal`;
* ``drop-after:<n>``: the connection that created the run is closed after n events (the run goes on),
  so the client must resume with ``Last-Event-ID``. Resumed streams are never dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

FAULT_HEADER = "x-torghut-fault"
FaultKind = Literal["stall", "slow", "error", "malformed-final", "drop-after"]
MAX_SLOW_S = 3600.0
MAX_DROP_AFTER = 1000


class FaultHeaderError(ValueError):
    """The header's value is not one of the documented faults."""


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    seconds: float = 0.0
    events: int = 0

    def header_value(self) -> str:
        if self.kind == "slow":
            return f"slow:{self.seconds:g}"
        if self.kind == "drop-after":
            return f"drop-after:{self.events}"
        return self.kind


def parse_fault(value: str | None) -> Fault | None:
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text in ("stall", "error", "malformed-final"):
        return Fault(text)  # type: ignore[arg-type]
    name, _, argument = text.partition(":")
    if name == "slow":
        try:
            seconds = float(argument)
        except ValueError:
            seconds = -1.0
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SLOW_S:
            raise FaultHeaderError(f"{FAULT_HEADER}: slow needs seconds in [0, {MAX_SLOW_S:g}], got {argument!r}")
        return Fault("slow", seconds=seconds)
    if name == "drop-after":
        if not argument.isdigit() or not 1 <= int(argument) <= MAX_DROP_AFTER:
            raise FaultHeaderError(f"{FAULT_HEADER}: drop-after needs an event count in [1, {MAX_DROP_AFTER}], "
                                   f"got {argument!r}")
        return Fault("drop-after", events=int(argument))
    raise FaultHeaderError(f"{FAULT_HEADER}: unknown fault {value!r}; expected stall, slow:<seconds>, error, "
                           "malformed-final or drop-after:<n>")

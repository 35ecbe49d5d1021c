"""The series states this process committed last, kept in memory so the next batch need not unpickle them.

Unpickling each series' state as a batch loaded it was the largest single cost of a bar: 18 % of
the service's CPU in ``bench/ta.py`` (py-spy). A state this process wrote is still in its memory;
what is missing is proof that the stored row is still the one it wrote. Every write of a row
increments its ``revision``, under the row lock the load takes, so a row whose revision equals the
one kept here holds exactly the kept state: the load then leaves the bytes in Postgres and the
handler uses the object.

Safe by construction:

* a state is *checked out* when a transaction loads its series (removed from here, hit or miss)
  and put back only by the transaction's commit hook, with the revision that transaction wrote. A
  rollback, a failed commit or an ambiguous one leaves nothing here, and the next load reads the
  row;
* another replica that took the partition over writes newer revisions: the kept one no longer
  matches, and the row is read;
* bounded: at most ``capacity`` series, the least recently committed dropped first (0 keeps none).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..domain.series import SeriesState

SeriesKey = tuple[str, str]
"""(symbol, bar window)."""
Held = tuple[int, SeriesState]
"""A state and the revision of the row it was committed as."""


class CommittedStates:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._kept: dict[SeriesKey, Held] = {}  # insertion order: least recently committed first

    def __len__(self) -> int:
        return len(self._kept)

    def check_out(self, keys: Iterable[SeriesKey]) -> dict[SeriesKey, Held]:
        """The kept states of ``keys``, removed from here: a transaction now owns (and may change) them."""
        out = {}
        for key in keys:
            held = self._kept.pop(key, None)
            if held is not None:
                out[key] = held
        return out

    def put_back(self, committed: Iterable[tuple[SeriesKey, int, SeriesState]]) -> None:
        """Keep the states a transaction committed, each with the revision its row now has (call it
        from ``after_commit``, never before the commit)."""
        if self.capacity <= 0:
            return
        for key, revision, state in committed:
            self._kept.pop(key, None)
            self._kept[key] = (revision, state)
        while len(self._kept) > self.capacity:
            del self._kept[next(iter(self._kept))]

"""Reading a ``clickhouse://`` table: its rows in (event_ts, symbol, seq) order, as canonical signals.

Read through :mod:`torghut_strategies.clickhouse`, the code signal-trigger's ClickHouse source runs;
the URL form and the canonical form are described in :mod:`.remote_sources`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from torghut_contracts import topics
from torghut_contracts.models import TaSignal

from .config import describe
from .errors import InputError
from .remote_clients import one_line, quiet
from .remote_windows import ClickHouseWindow
from .signals import Inbound, SignalSet, build_signal_set

if TYPE_CHECKING:  # the driver is imported only when a clickhouse:// URL is read
    from torghut_strategies.clickhouse.reader import ClickHouseReader

#: One ClickHouse batch may take this long before the read fails.
QUERY_TIMEOUT_S = 120.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_clickhouse(window: ClickHouseWindow, *, batch_rows: int) -> SignalSet:
    """The table's rows in (event_ts, symbol, seq) order as canonical signals, through :func:`build_signal_set`."""
    from torghut_strategies.clickhouse.reader import ClickHouseReader, ClickHouseSettings

    settings = ClickHouseSettings(url=window.driver_url(), table=window.table, price_table="ta_microbars",
                                  batch_size=batch_rows, allowed_lateness_s=0,
                                  query_timeout_s=QUERY_TIMEOUT_S)
    with quiet("clickhouse_driver"):
        reader = ClickHouseReader(settings)  # connects on the first query; connecting may take 5 s at most
        try:
            return build_signal_set(window.url, _clickhouse_records(reader, window, batch_rows))
        finally:
            reader.close()


def _clickhouse_records(reader: ClickHouseReader, window: ClickHouseWindow,
                        batch_rows: int) -> Iterator[Inbound]:
    from torghut_strategies.clickhouse.rows import RowKey, UpperBound, parse_timestamp, row_to_signal

    table = f"{window.database}.{window.table}"
    after = RowKey(window.since or _EPOCH)
    if window.until is not None:
        upper = UpperBound(window.until, inclusive=False)
    else:
        latest = _clickhouse_call(window, reader.latest, after)
        if latest is None:
            return
        upper = UpperBound(latest)  # what the table held when reading started: a finite read
    number = 0
    previous: tuple[Any, ...] | None = None
    while True:
        rows: list[dict[str, Any]] = _clickhouse_call(window, reader.fetch, after, batch_rows, upper=upper)
        for row in rows:
            identity = (row["event_ts_text"], row["symbol"], row["seq"])
            if identity == previous:
                continue  # an older, unmerged version of the row just read (newest first by ingest_ts)
            previous = identity
            number += 1
            try:
                signal = row_to_signal(row)
            except ValidationError as exc:
                raise InputError(f"{window.url}: {table} row {_identity(row)}: not a valid "
                                 f"{topics.TA_SIGNALS.name} signal: {describe(exc)}") from None
            except ValueError as exc:
                raise InputError(f"{window.url}: {table} row {_identity(row)}: {exc}") from None
            yield Inbound(table, number, canonical_value(signal))
        if len(rows) < batch_rows:
            return
        last = rows[-1]
        after = RowKey(parse_timestamp(str(last["event_ts_text"])) or after.event_ts, str(last["symbol"]),
                       int(last["seq"]))


def _identity(row: dict[str, Any]) -> str:
    return f"(symbol={row.get('symbol')!r}, event_ts={row.get('event_ts_text')}, seq={row.get('seq')})"


def _clickhouse_call(window: ClickHouseWindow, method: Any, *args: Any, **kwargs: Any) -> Any:
    """One reader call, its failures as a one-line InputError naming the (masked) URL."""
    from clickhouse_driver.errors import Error as DriverError
    from torghut_strategies.clickhouse.reader import ClickHouseTableError

    try:
        return method(*args, **kwargs)
    except ClickHouseTableError as exc:
        raise InputError(f"{window.url}: {exc}") from None
    except (DriverError, OSError, EOFError) as exc:
        raise InputError(f"{window.url}: ClickHouse at {window.host}:{window.port}: {one_line(exc)}") from None


def canonical_value(signal: TaSignal) -> bytes:
    """The signal's bytes for the dataset hash (see the module docstring): independent of column types."""
    plain = {name: _plain(value) for name, value in signal if isinstance(value, Decimal)}
    return signal.model_copy(update=plain).model_dump_json(exclude_none=True).encode()


def _plain(number: Decimal) -> Decimal:
    if number == 0:
        return Decimal(0)  # also -0 and 0E-8
    return Decimal(format(number.normalize(), "f"))

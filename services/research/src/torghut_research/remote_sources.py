"""``--signals`` straight from a broker or from ClickHouse, validated exactly like a file.

Two URL forms (anything else is refused with a one-line error):

``kafka://HOST:PORT/TOPIC[?since=ISO8601&until=ISO8601]``
    A window of TOPIC (usually ``torghut.ta.signals.v1``; several brokers as
    ``HOST:PORT,HOST:PORT``). ``since`` is inclusive and ``until`` exclusive, on each record's
    timestamp; the end is every partition's high watermark when reading starts, so the read is
    finite even on a busy topic. Records are ordered like a replay dump: each partition in offset
    order, partitions merged by record time. A record carrying ``x-replay-original-topic`` counts
    as replayed (its broker time says nothing about staleness). Every record's value must be a
    valid signal: the first that is not stops the lane, named ``topic:partition:offset``.

``clickhouse://HOST:PORT/DATABASE[?table=ta_signals&since=ISO8601&until=ISO8601&user=..&password=..]``
    The signal table (default ``ta_signals``; native protocol port, user ``default`` with no
    password unless given), read through :mod:`torghut_strategies.clickhouse` - the code
    signal-trigger's ClickHouse source runs - in batches after the (event_ts, symbol, seq) key.
    ``since``/``until`` (inclusive/exclusive) apply to ``event_ts``; without ``until`` the read stops
    at the newest ``event_ts`` the table held when reading started. Where the live source skips a
    row that cannot be a signal, the lane stops on it: table, row identity and reason. Of several
    unmerged versions of one row (ReplacingMergeTree), only the newest (``ingest_ts``) is kept, so
    the dataset is the same before and after a background merge and whatever the batch size.

Times are ISO 8601 with a zone (``2026-02-12T14:30:00Z``; a ``+`` offset may be written as is or as
``%2B``). A password never appears in a message or an artifact: it is shown as ``***``.

Each signal's bytes (what the dataset hash covers) are, for Kafka, the record's value exactly as
stored, and for ClickHouse the *canonical form* :func:`canonical_value`: the contract model's
compact JSON in field order, no null fields, UTC ``Z`` times, decimals in plain notation without
trailing zeros (``76175``, not ``76175.0``), so a Float64 or a Decimal column gives the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from pydantic import ValidationError
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.models import TaSignal

from .config import describe
from .errors import InputError
from .signals import REPLAY_HEADER, Inbound, SignalSet, build_signal_set, merge_partitions

if TYPE_CHECKING:  # the driver is imported only when a clickhouse:// URL is read
    from torghut_strategies.clickhouse.reader import ClickHouseReader

T = TypeVar("T")
#: Rows per ClickHouse query: a large table never comes back as one result.
CLICKHOUSE_BATCH_ROWS = 10_000
#: Connecting to the broker fails after this long (an unreachable host); the ClickHouse reader bounds
#: its own connect at 5 s.
CONNECT_TIMEOUT_S = 5.0
#: One ClickHouse batch may take this long before the read fails.
QUERY_TIMEOUT_S = 120.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PASSWORD = re.compile(r"([?&]password=)[^&#]*")
_USERINFO_PASSWORD = re.compile(r"^([a-z]+://[^/@:]*:)[^/@]*@")


def read_remote(spec: str) -> SignalSet:
    """The signals of a ``kafka://`` or ``clickhouse://`` URL (see the module docstring)."""
    if spec.startswith("kafka://"):
        return read_kafka(parse_kafka_url(spec))
    return read_clickhouse(parse_clickhouse_url(spec))


def mask(spec: str) -> str:
    """The URL as it may be shown: any password replaced by ``***`` (also one, refused, before the host)."""
    return _USERINFO_PASSWORD.sub(r"\1***@", _PASSWORD.sub(r"\1***", spec))


# -- URLs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KafkaWindow:
    url: str
    bootstrap: str
    topic: str
    since: datetime | None
    until: datetime | None


@dataclass(frozen=True)
class ClickHouseWindow:
    url: str
    """Masked: safe for messages and artifacts."""
    host: str
    port: int
    database: str
    table: str
    since: datetime | None
    until: datetime | None
    user: str
    password: str

    def driver_url(self) -> str:
        return (f"clickhouse://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}"
                f"/{self.database}")


def parse_kafka_url(spec: str) -> KafkaWindow:
    url = mask(spec)
    netloc, path, params = _split(spec, url, allowed=("since", "until"))
    hosts = [_host_port(item, url) for item in netloc.split(",")]
    topic = path.strip("/")
    if not topic:
        raise InputError(f"{url}: no topic: write kafka://HOST:PORT/TOPIC, e.g. kafka://kafka:9092/"
                         f"{topics.TA_SIGNALS.name}")
    if not _TOPIC.match(topic):
        raise InputError(f"{url}: {topic!r} is not a Kafka topic name (letters, digits, '.', '_', '-')")
    since, until = _window(params, url)
    return KafkaWindow(url, ",".join(f"{host}:{port}" for host, port in hosts), topic, since, until)


def parse_clickhouse_url(spec: str) -> ClickHouseWindow:
    url = mask(spec)
    netloc, path, params = _split(spec, url, allowed=("table", "since", "until", "user", "password"))
    if "," in netloc:
        raise InputError(f"{url}: one ClickHouse server only (HOST:PORT)")
    host, port = _host_port(netloc, url)
    database = path.strip("/")
    if not database:
        raise InputError(f"{url}: no database: write clickhouse://HOST:PORT/DATABASE")
    table = params.get("table", "ta_signals")
    for what, name in (("database", database), ("table", table)):
        if not _IDENTIFIER.match(name):
            raise InputError(f"{url}: {name!r} is not a plain ClickHouse {what} name")
    since, until = _window(params, url)
    return ClickHouseWindow(url, host, port, database, table, since, until, params.get("user", "default"),
                            params.get("password", ""))


def _split(spec: str, url: str, *, allowed: tuple[str, ...]) -> tuple[str, str, dict[str, str]]:
    parts = urlsplit(spec)
    if parts.fragment:
        raise InputError(f"{url}: a '#' has no meaning here")
    if "@" in parts.netloc:
        raise InputError(f"{url}: give credentials as ?user=..&password=.., not in front of the host")
    params: dict[str, str] = {}
    for item in filter(None, parts.query.split("&")):
        # Not parse_qs: it would read the '+' of a '+01:00' offset as a space.
        name, sep, value = item.partition("=")
        name = unquote(name)
        if name not in allowed:
            raise InputError(f"{url}: unknown parameter {name!r} (known: {', '.join(allowed)})")
        if not sep or (not value and name != "password"):  # an empty password is one
            raise InputError(f"{url}: parameter {name!r} has no value")
        if name in params:
            raise InputError(f"{url}: parameter {name!r} given twice")
        params[name] = unquote(value)
    return parts.netloc, parts.path, params


def _host_port(item: str, url: str) -> tuple[str, int]:
    host, sep, port = item.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{url}: {item!r} is not HOST:PORT")
    return host, int(port)


def _window(params: dict[str, str], url: str) -> tuple[datetime | None, datetime | None]:
    since = _moment("since", params.get("since"), url)
    until = _moment("until", params.get("until"), url)
    if since is not None and until is not None and since >= until:
        raise InputError(f"{url}: since ({since.isoformat()}) must be before until ({until.isoformat()})")
    return since, until


def _moment(name: str, text: str | None, url: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{url}: {name}={text!r} is not an ISO-8601 time, e.g. 2026-02-12T14:30:00Z") from None
    if moment.tzinfo is None:
        raise InputError(f"{url}: {name}={text!r} has no time zone; give one, e.g. 2026-02-12T14:30:00Z")
    return moment.astimezone(UTC)


# -- Kafka -----------------------------------------------------------------------------------------
def read_kafka(window: KafkaWindow) -> SignalSet:
    """The window's records in dump order, through :func:`build_signal_set` like any file."""
    with _quiet("aiokafka"):
        partitions = _run(_kafka_partitions(window))
    return build_signal_set(window.url, merge_partitions(partitions))


async def _kafka_partitions(window: KafkaWindow) -> dict[tuple[str, int], list[tuple[int, int, Inbound]]]:
    from aiokafka.errors import KafkaError
    from torghut_runtime.topic_window import Window, WindowReadError, read_window, to_ms

    span = Window(since_ms=to_ms(window.since) if window.since else None,
                  until_ms=to_ms(window.until) if window.until else None)
    partitions: dict[tuple[str, int], list[tuple[int, int, Inbound]]] = {}
    records = read_window(window.bootstrap, window.topic, span, connect_timeout_s=CONNECT_TIMEOUT_S)
    try:
        async with aclosing(records):  # a bad record stops the read: the consumer closes at once
            async for record in records:
                declared = record.headers.get(h.SCHEMA)
                if declared is not None and declared != topics.TA_SIGNALS.name:
                    # What the live consumer dead-letters as schema_mismatch: never read as a signal.
                    raise InputError(f"{record.topic}:{record.partition}:{record.offset}: {h.SCHEMA} "
                                     f"{declared[:200]!r} is not {topics.TA_SIGNALS.name!r}")
                inbound = Inbound(f"{record.topic}:{record.partition}", record.offset, record.value,
                                  record.timestamp_ms, replayed=REPLAY_HEADER in record.headers)
                partitions.setdefault((record.topic, record.partition), []).append((record.offset, 0, inbound))
    except WindowReadError as exc:
        raise InputError(f"{window.url}: {exc}") from None
    except (KafkaError, OSError) as exc:
        raise InputError(f"{window.url}: Kafka read failed: {_one_line(exc)}") from None
    return partitions


# -- ClickHouse ------------------------------------------------------------------------------------
def read_clickhouse(window: ClickHouseWindow) -> SignalSet:
    """The table's rows in (event_ts, symbol, seq) order as canonical signals, through :func:`build_signal_set`."""
    from torghut_strategies.clickhouse.reader import ClickHouseReader, ClickHouseSettings

    settings = ClickHouseSettings(url=window.driver_url(), table=window.table, price_table="ta_microbars",
                                  batch_size=CLICKHOUSE_BATCH_ROWS, allowed_lateness_s=0,
                                  query_timeout_s=QUERY_TIMEOUT_S)
    with _quiet("clickhouse_driver"):
        reader = ClickHouseReader(settings)  # connects on the first query; connecting may take 5 s at most
        try:
            return build_signal_set(window.url, _clickhouse_records(reader, window))
        finally:
            reader.close()


def _clickhouse_records(reader: ClickHouseReader, window: ClickHouseWindow) -> Iterator[Inbound]:
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
        rows: list[dict[str, Any]] = _clickhouse_call(window, reader.fetch, after, CLICKHOUSE_BATCH_ROWS, upper=upper)
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
        if len(rows) < CLICKHOUSE_BATCH_ROWS:
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
        raise InputError(f"{window.url}: ClickHouse at {window.host}:{window.port}: {_one_line(exc)}") from None


def canonical_value(signal: TaSignal) -> bytes:
    """The signal's bytes for the dataset hash (see the module docstring): independent of column types."""
    plain = {name: _plain(value) for name, value in signal if isinstance(value, Decimal)}
    return signal.model_copy(update=plain).model_dump_json(exclude_none=True).encode()


def _plain(number: Decimal) -> Decimal:
    if number == 0:
        return Decimal(0)  # also -0 and 0E-8
    return Decimal(format(number.normalize(), "f"))


# -- plumbing --------------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0].strip()
    return line[:500]


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Silence client libraries' own logging while reading: without a configured handler, Python
    prints their connection errors to stderr, and the lane's rule is one line there, ours."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, also when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="torghut-research-kafka") as pool:
        return pool.submit(asyncio.run, coro).result()

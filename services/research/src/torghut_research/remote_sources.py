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
stored, and for ClickHouse the *canonical form* :func:`.remote_clickhouse.canonical_value`: the
contract model's compact JSON in field order, no null fields, UTC ``Z`` times, decimals in plain notation without
trailing zeros (``76175``, not ``76175.0``), so a Float64 or a Decimal column gives the same bytes.

This module reads the URL into a window (:mod:`.remote_windows`); :mod:`.remote_kafka` and
:mod:`.remote_clickhouse` read the data.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from torghut_contracts import topics

from .errors import InputError
from .remote_clickhouse import read_clickhouse
from .remote_kafka import read_kafka
from .remote_windows import ClickHouseWindow, KafkaWindow
from .signals import SignalSet

#: Rows per ClickHouse query: a large table never comes back as one result.
CLICKHOUSE_BATCH_ROWS = 10_000
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PASSWORD = re.compile(r"([?&]password=)[^&#]*")
_USERINFO_PASSWORD = re.compile(r"^([a-z]+://[^/@:]*:)[^/@]*@")


def read_remote(spec: str) -> SignalSet:
    """The signals of a ``kafka://`` or ``clickhouse://`` URL (see the module docstring)."""
    if spec.startswith("kafka://"):
        return read_kafka(parse_kafka_url(spec))
    return read_clickhouse(parse_clickhouse_url(spec), batch_rows=CLICKHOUSE_BATCH_ROWS)


def mask(spec: str) -> str:
    """The URL as it may be shown: any password replaced by ``***`` (also one, refused, before the host)."""
    return _USERINFO_PASSWORD.sub(r"\1***@", _PASSWORD.sub(r"\1***", spec))


# -- URLs ------------------------------------------------------------------------------------------
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

"""What a ``kafka://`` or ``clickhouse://`` ``--signals`` URL names: :class:`KafkaWindow` and :class:`ClickHouseWindow`.

:mod:`.remote_sources` parses a URL into one of these windows and hands it to the reader of its
kind, :mod:`.remote_kafka` or :mod:`.remote_clickhouse`. They live here, apart from the parser,
so that the readers can take them without importing the module that imports them. The URL forms
are described in :mod:`.remote_sources`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote


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

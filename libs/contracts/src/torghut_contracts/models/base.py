"""The base every topic model shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

MAX_TEXT = 4000


class Contract(BaseModel):
    """An immutable message body.

    ``extra="ignore"`` is what lets an older consumer read a message from a newer producer of the same
    version: a version only ever gains optional fields, and those are skipped rather than refused.
    No string is unbounded: a field without a limit of its own (a list of notes, a map's keys and
    values) takes :data:`MAX_TEXT`, so a hostile body cannot make a consumer hold megabytes per field.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False, populate_by_name=True,
                              str_max_length=MAX_TEXT)

"""The base every topic model shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    """An immutable message body.

    ``extra="ignore"`` is what lets an older consumer read a message from a newer producer of the same
    version: a version only ever gains optional fields, and those are skipped rather than refused.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False, populate_by_name=True)

"""Torghut's only coupling between services: topics, keys, versions, models and headers."""

from . import headers, topics
from .headers import MessageHeaders, derived_message_id
from .topics import ALL_TOPICS, TopicSpec

__all__ = ["ALL_TOPICS", "MessageHeaders", "TopicSpec", "derived_message_id", "headers", "topics"]

"""Deterministic identifiers: the same input always yields the same id, so replays change nothing twice."""

from __future__ import annotations

import hashlib

from torghut_contracts.headers import derived_message_id


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_identifier(repository: str, issue_number: int) -> str:
    return f"{repository}#{issue_number}"


def run_id(repository: str, issue_number: int, normalized_pdf_url: str) -> str:
    """Upstream §7.3: ``wp-`` + the first 24 hex of sha256(``owner/repo#N|normalized_pdf_url``)."""
    return "wp-" + _sha256(f"{source_identifier(repository, issue_number)}|{normalized_pdf_url}")[:24]


def delivery_message_id(delivery_id: str) -> str:
    """The Kafka message id of a GitHub delivery: one delivery, however often sent, is one message."""
    return derived_message_id("github-delivery", delivery_id)


def manual_replay_delivery_id(body: bytes) -> str:
    """A delivery id for a manual replay that names none: the body's hash, so a repeat is a duplicate."""
    return "manual-" + hashlib.sha256(body).hexdigest()[:32]


def run_event_id(run_id_: str, seq: int, status: str) -> str:
    """The id of a run's ``seq``-th lifecycle event (also its Kafka message id, via the outbox)."""
    return "wpe-" + _sha256(f"{run_id_}|{seq}|{status}")[:24]


def document_key(pdf_sha256: str) -> str:
    """The stored paper's key: derived from its content, so the same PDF is one document."""
    return "wpdoc-" + pdf_sha256[:24]


def object_key(pdf_sha256: str) -> str:
    """Upstream's content-addressed layout: ``raw/checksum/<sha[:2]>/<sha>/source.pdf``."""
    return f"raw/checksum/{pdf_sha256[:2]}/{pdf_sha256}/source.pdf"


def agentrun_idempotency_key(run_id_: str, generation: int) -> str:
    """``run_id`` for the first dispatch, ``<run_id>-retry-<n>`` for the n-th re-dispatch (a requeue).

    HTTP retries inside one dispatch reuse the key: that is what makes them safe to repeat.
    """
    return run_id_ if generation <= 1 else f"{run_id_}-retry-{generation - 1}"


def prompt_hash(prompt: str) -> str:
    return _sha256(prompt)

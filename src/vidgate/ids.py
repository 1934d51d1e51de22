"""Identifiers: prefixed ULIDs (sortable, unguessable enough for ids, never used as secrets)."""

from __future__ import annotations

import secrets

from ulid import ULID


def new_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def task_id() -> str:
    return new_id("vid")


def request_id() -> str:
    return new_id("req")


def new_secret(prefix: str, nbytes: int = 24) -> str:
    """A bearer secret: prefix + url-safe random text (192 bits by default)."""
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"

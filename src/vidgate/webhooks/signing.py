"""Standard Webhooks signing and verification.

A message is signed as ``base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))`` and sent in
``webhook-signature`` as ``v1,<signature>``; several space-separated signatures are sent while a secret is
being rotated, and a receiver accepts the message when any one of them matches. A secret looks like
``whsec_<base64>``; the key is the base64-decoded part after the prefix (a secret without the prefix is
used as raw UTF-8 bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_PREFIX = "whsec_"

__all__ = ["WebhookVerificationError", "new_secret", "sign", "signature_headers", "verify"]


class WebhookVerificationError(ValueError):
    """The signature or timestamp of a webhook request is missing, malformed, stale or wrong."""


def new_secret(nbytes: int = 32) -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def secret_bytes(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WebhookVerificationError("secret is not valid base64 after whsec_") from exc
    return secret.encode()


def _body_bytes(payload: bytes | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes | str) -> str:
    """``v1,<base64 signature>`` for one secret."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + _body_bytes(payload)
    digest = hmac.new(secret_bytes(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    secrets_: Iterable[str], msg_id: str, payload: bytes | str, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (rotation: old and new)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    sigs = [sign(s, msg_id, ts, payload) for s in secrets_]
    if not sigs:
        raise ValueError("at least one secret is needed to sign a webhook")
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": " ".join(sigs)}


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        value = lowered.get(name)
    return None if value is None else str(value)


def verify(
    payload: bytes | str,
    headers: Mapping[str, Any],
    secret: str,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a received webhook and return its parsed JSON body.

    ``payload`` must be the raw request body exactly as received (not re-serialised JSON). Raises
    :class:`WebhookVerificationError` when a header is missing, the timestamp is more than ``tolerance``
    seconds away from now (replay protection), or no ``v1`` signature matches ``secret``.
    """
    msg_id = _header(headers, "webhook-id")
    ts_raw = _header(headers, "webhook-timestamp")
    sig_header = _header(headers, "webhook-signature")
    if not msg_id or not ts_raw or not sig_header:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        ts = int(ts_raw)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(current - ts)} s away from now (tolerance {tolerance} s)"
        )
    expected = sign(secret, msg_id, ts, payload).split(",", 1)[1]
    for candidate in sig_header.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            break
    else:
        raise WebhookVerificationError("no matching v1 signature in webhook-signature")
    try:
        return json.loads(_body_bytes(payload))
    except ValueError as exc:
        raise WebhookVerificationError("body is not valid JSON") from exc

"""Outgoing webhooks: Standard Webhooks signing (:mod:`.signing`), the outbox (:mod:`.outbox`) and the
delivery loop (:mod:`.delivery`). Receivers use :func:`verify`."""

from vidgate.webhooks.signing import WebhookVerificationError, sign, signature_headers, verify

__all__ = ["WebhookVerificationError", "sign", "signature_headers", "verify"]

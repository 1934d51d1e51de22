"""One error hierarchy. Each error knows its HTTP status and the contract's error code.

The API turns any :class:`VidgateError` into the contract's error envelope::

    {"success": false, "error": {"code": ..., "message": ...}, "request_id": ...}

Code outside the API (engine, fetcher, providers) raises these too, so a task's failure message
and a create-time rejection come from the same place.
"""

from __future__ import annotations

from typing import Any


class VidgateError(Exception):
    """Root of every error vidgate raises on purpose."""

    status_code: int = 500
    code: str = "internal_error"
    default_message: str = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        self.field = field
        self.headers = headers or {}
        self.details = details or {}
        super().__init__(self.message)

    def to_error(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class InvalidRequest(VidgateError):
    status_code = 400
    code = "invalid_request"
    default_message = "Invalid request parameters"


class Unauthorized(VidgateError):
    status_code = 401
    code = "invalid_api_key"
    default_message = "API key required or invalid API key"


class InsufficientCredits(VidgateError):
    status_code = 402
    code = "insufficient_credits"
    default_message = "Insufficient credits"


class Forbidden(VidgateError):
    status_code = 403
    code = "access_denied"
    default_message = "API access not approved"


class NotFound(VidgateError):
    status_code = 404
    code = "not_found"
    default_message = "Not found"


class IdempotencyConflict(VidgateError):
    status_code = 409
    code = "idempotency_conflict"
    default_message = "Idempotency-Key was already used with a different request body"


class RateLimited(VidgateError):
    status_code = 429
    code = "rate_limit_exceeded"
    default_message = "Rate limit exceeded"

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0, code: str | None = None):
        secs = max(1, int(retry_after + 0.999))
        super().__init__(message, code=code, headers={"Retry-After": str(secs)})
        self.retry_after = secs


class ContentBlocked(VidgateError):
    status_code = 451
    code = "content_blocked"
    default_message = "Prompt blocked by content moderation"


class UpstreamUnavailable(VidgateError):
    status_code = 503
    code = "upstream_unavailable"
    default_message = "Upstream provider is busy or temporarily unavailable"


class InternalError(VidgateError):
    status_code = 500
    code = "internal_error"
    default_message = "Internal server error"


# --- errors raised while a task runs (they fail the task; they never reach a create response) ---


class TaskFailed(VidgateError):
    """Work on a task failed for a reason the user should read (bad video, upstream failure...)."""

    status_code = 500
    code = "task_failed"
    default_message = "Task failed"


class FetchError(TaskFailed):
    """A remote URL could not be fetched (refused by the SSRF guard, too large, not a video...)."""

    code = "fetch_failed"
    default_message = "Could not fetch the URL"


class UnsafeURL(FetchError):
    """The SSRF guard refused a URL: bad scheme, or it resolves to a non-public address."""

    code = "unsafe_url"
    default_message = "URL refused: it must be a public http(s) address"


class BadMedia(TaskFailed):
    """Input media is not a decodable video within the configured limits."""

    code = "bad_media"
    default_message = "Input is not a supported video"

"""The one interface every sora2 upstream implements, and the errors it raises.

A provider turns our normalised sora2 params (see :func:`vidgate.contract.parse_create`) into an upstream
job and reports on it:

* ``unsupported(params)`` — ``None`` when the request can be expressed at this provider, else a reason
  (``(field, message)``); routing answers 400 when no configured provider can take a request.
* ``await submit(params, idempotency_key=...)`` → :class:`Submitted` (the upstream job id). Raises
  :class:`UpstreamBusy` (429/5xx/timeout/network: the router tries the next provider and the circuit
  breaker counts it), :class:`UpstreamRejected` (the upstream refused this request or our credentials:
  try the next provider) or :class:`UpstreamBlocked` (moderation: create answers 451).
* ``await poll(job_id)`` → :class:`Poll`. Transient trouble raises :class:`UpstreamBusy` (the poller backs
  off and asks again); a job that ended badly is ``Poll(status="failed", error=..., blocked=...)``.
* ``await download(url, dest)`` — fetch one result to a local file through the SSRF guard.
* optional ``await cancel(job_id)`` — best effort, for a job we submitted but could not record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

PollStatus = Literal["queued", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class Submitted:
    job_id: str
    extra: dict[str, Any] = field(default_factory=dict)  # saved in tasks.state["upstream"]


@dataclass(frozen=True)
class Poll:
    status: PollStatus
    progress: int | None = None
    result_urls: list[str] = field(default_factory=list)
    error: str | None = None
    blocked: bool = False
    retry_after: float | None = None  # upstream hint for the next poll, seconds


class ProviderError(Exception):
    """Something went wrong talking to an upstream. ``message`` is safe to show to users."""

    counts_against_health = True

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.status = status


class UpstreamBusy(ProviderError):
    """429, 5xx, maintenance, timeout or a network error: try another provider / poll again later."""


class UpstreamRejected(ProviderError):
    """The upstream refused the request (4xx): bad credentials, no credit upstream, validation."""

    def __init__(self, message: str, *, provider_fault: bool = True, **kw: Any) -> None:
        super().__init__(message, **kw)
        # a refusal of *this* request (422 validation) says nothing about the provider's health
        self.counts_against_health = provider_fault


class UpstreamBlocked(ProviderError):
    """The upstream's moderation refused the prompt or image."""

    counts_against_health = False


@runtime_checkable
class Provider(Protocol):
    name: str  # the name in the providers file
    kind: str  # apimall | kie | openai
    watermark: str  # "local" (our engine) or "upstream" (the upstream's remove_watermark flag)

    def unsupported(self, params: dict[str, Any]) -> tuple[str, str] | None: ...

    async def submit(self, params: dict[str, Any], *, idempotency_key: str) -> Submitted: ...

    async def poll(self, job_id: str) -> Poll: ...

    async def download(self, url: str, dest: Path) -> None: ...

    async def aclose(self) -> None: ...


_BLOCK_WORDS = re.compile(
    r"moderat|content.?polic|safety|sensitive|nsfw|blocked|prohibited|violat|inappropriate|not allowed",
    re.IGNORECASE,
)


def looks_blocked(*texts: object) -> bool:
    """Heuristic: does an upstream error message describe a moderation refusal?"""
    return any(isinstance(t, str) and _BLOCK_WORDS.search(t) for t in texts)


def busy_or_rejected(status: int, message: str, retry_after: float | None = None) -> ProviderError:
    """Classify an HTTP-ish status from an upstream."""
    if status == 429 or status >= 500 or status == 408:
        return UpstreamBusy(message, retry_after=retry_after, status=status)
    return UpstreamRejected(message, status=status, provider_fault=status in (401, 402, 403, 404))

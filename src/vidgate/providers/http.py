"""Upstream HTTP for the JSON providers: always through the SSRF-guarded client, errors classified."""

from __future__ import annotations

import json
from typing import Any

import httpx

from vidgate.errors import FetchError
from vidgate.http_headers import parse_retry_after
from vidgate.media.ssrf import guarded_async_client, guarded_request
from vidgate.providers.base import UpstreamBusy, UpstreamRejected
from vidgate.settings import Settings


class UpstreamHTTP:
    """One guarded ``httpx.AsyncClient`` per provider; credentials sent as a Bearer header only."""

    def __init__(self, settings: Settings, *, name: str, base_url: str, api_key: str, timeout: float) -> None:
        self.settings = settings
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self.client = guarded_async_client(settings, timeout=timeout, headers={"User-Agent": "vidgate/0.1"})

    async def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, dict[str, Any], httpx.Headers]:
        """Send; returns (HTTP status, JSON body or {}, headers). Network trouble → :class:`UpstreamBusy`."""
        url = self.base_url + path
        try:
            resp = await guarded_request(
                self.client, method, url, settings=self.settings, headers={**self._auth, **(headers or {})}, **kw
            )
        except httpx.TimeoutException:
            raise UpstreamBusy(f"{self.name}: timed out after {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise UpstreamBusy(f"{self.name}: {type(exc).__name__}") from None
        except FetchError as exc:  # refused by the SSRF guard, redirect loop, DNS: a configuration problem
            raise UpstreamRejected(f"{self.name}: {exc.message}") from None
        try:
            body = resp.json() if resp.content else {}
        except (ValueError, UnicodeDecodeError):
            body = {}
        if not isinstance(body, dict):
            body = {"_": body}
        return resp.status_code, body, resp.headers

    def retry_after(self, headers: httpx.Headers) -> float | None:
        return parse_retry_after(headers.get("retry-after"))

    async def aclose(self) -> None:
        await self.client.aclose()


def short(body: Any, limit: int = 300) -> str:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return text[:limit]

"""Pure-ASGI middleware (cheaper per request than BaseHTTPMiddleware): request id and host check."""

from __future__ import annotations

import json
from typing import Any

from vidgate.ids import request_id as new_request_id

Scope = dict[str, Any]


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-Id`` header, ``request_id`` in bodies) and enforces
    the gateway host list: when hosts are configured, any other Host gets 403."""

    def __init__(self, app: Any, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        header = (b"x-request-id", rid.encode())

        if self.allowed and not self._host_ok(scope):
            body = json.dumps(
                {
                    "success": False,
                    "error": {
                        "code": "host_not_allowed",
                        "message": "Request made on a non-gateway host",
                    },
                    "request_id": rid,
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"application/json"), header,
                                (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)

    def _host_ok(self, scope: Scope) -> bool:
        host = ""
        for k, v in scope.get("headers", []):
            if k == b"host":
                host = v.decode("latin-1").lower()
                break
        if host in self.allowed:
            return True
        bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return bare in self.allowed

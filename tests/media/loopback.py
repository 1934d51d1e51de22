"""A tiny threaded HTTP server on 127.0.0.1 for the media tests (no other network is used)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sharelinks"

# A minimal MP4 head: an ftyp box followed by an mdat box, padded to a realistic size.
MP4_BYTES = (
    (24).to_bytes(4, "big")
    + b"ftypisom"
    + b"\x00\x00\x02\x00"
    + b"isomiso2"
    + (8 + 20_000).to_bytes(4, "big")
    + b"mdat"
    + bytes(range(256)) * 78
    + b"\x00" * 32
)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True  # False: no Content-Length, body ends when the connection closes
    chunks: Iterable[bytes] | None = None  # stream these (after the headers) instead of body
    delay_between_chunks: float = 0.0


Route = Reply | Callable[[BaseHTTPRequestHandler], Reply]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.owner.dispatch(self)

    do_HEAD = do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer

    def handle_error(self, request, client_address) -> None:  # client went away mid-response: fine
        pass


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, reply: Route) -> None:
        self.routes[path] = reply

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    def dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        self.seen.append(Seen(handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}))
        route = self.routes.get(handler.path) or self.routes.get(handler.path.split("?", 1)[0])
        if route is None:
            reply = Reply(404, b"no route", {"Content-Type": "text/plain"})
        else:
            reply = route(handler) if callable(route) else route
        handler.send_response(reply.status)
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        if reply.chunks is None and reply.content_length:
            handler.send_header("Content-Length", str(len(reply.body)))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        if handler.command == "HEAD":
            return
        try:
            if reply.chunks is None:
                handler.wfile.write(reply.body)
            else:
                for chunk in reply.chunks:
                    handler.wfile.write(chunk)
                    handler.wfile.flush()
                    if reply.delay_between_chunks:
                        time.sleep(reply.delay_between_chunks)
        except OSError:
            pass

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

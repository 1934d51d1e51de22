"""A real webhook receiver on loopback for tests: records every request, answers as scripted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# (request, how many earlier requests hit this path) -> (status, headers, seconds to wait before answering)
Script = Callable[[Received, int], tuple[int, dict[str, str], float]]


@dataclass
class Receiver:
    script: Script = lambda req, n: (200, {}, 0.0)
    received: list[Received] = field(default_factory=list)
    processed_ids: list[str] = field(default_factory=list)  # deduplicated by webhook-id, answered 2xx
    release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                req = Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                               self.rfile.read(length), time.time())
                with outer._lock:
                    n = sum(1 for r in outer.received if r.path == req.path)
                    outer.received.append(req)
                status, headers, wait = outer.script(req, n)
                if wait == float("inf"):
                    outer.release.wait(60)
                elif wait:
                    time.sleep(wait)
                if 200 <= status < 300:
                    with outer._lock:
                        if req.headers["webhook-id"] not in outer.processed_ids:
                            outer.processed_ids.append(req.headers["webhook-id"])
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass

        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while not predicate():
            if time.time() > deadline:
                raise AssertionError(f"timed out waiting; received: {[(r.path, r.headers) for r in self.received]}")
            time.sleep(0.05)

"""Local result storage with signed, expiring, Range-capable download URLs.

Finished videos live under one root folder (normally ``Settings.results_dir``) at a *key* such as
``vid_01J9.../video.mp4``. The gateway hands clients ``video_url`` =
``{base_url}/files/{key}?expires=<unix seconds>&sig=<signature>``; :func:`files_router` serves it.

Keys
----
A key is 1-8 ``/``-separated segments; each segment is 1-128 characters of ``A-Z a-z 0-9 . _ -``
and must not start with ``.`` (so no ``.``/``..``, no hidden or temp files). Anything else — ``..``,
absolute paths, backslashes, NUL and other control characters, empty segments, non-ASCII — raises
:class:`~vidgate.errors.InvalidRequest` from every method that takes a key, and the route answers 404.

Signatures
----------
``sig`` is the unpadded urlsafe-base64 HMAC-SHA256, under the storage secret, of
``"vidgate-files-v1\\n{key}\\n{expires}"``; a URL is valid while ``now < expires``. Comparison is
constant-time. :meth:`LocalStorage.signed_url` rounds ``expires`` *up* to a multiple of
:attr:`LocalStorage.expiry_granularity` (60 s), so URLs minted within the same minute are identical
and browsers/CDNs can cache them; the real lifetime is therefore ``ttl`` to ``ttl + 59`` seconds.

Serving
-------
``GET``/``HEAD /files/{key}``: 403 ``invalid_signature`` / ``link_expired`` (checked before the file
is looked up, so existence is not revealed), 404 ``not_found``; otherwise the file via Starlette's
``FileResponse`` (which implements single and multi ``Range`` requests, ``If-Range``, ETag and
Last-Modified) with ``Accept-Ranges: bytes`` and ``Cache-Control: private, max-age=<seconds until
expiry>``. The ``Range`` header is pre-validated here so that syntactically invalid ranges are ignored
(full 200, as RFC 9110 allows) instead of Starlette's plain-text 400, unsatisfiable ranges get a JSON
416 with ``Content-Range: bytes */<size>``, and unsatisfiable parts of a multi-range request are dropped.
Errors use the contract's envelope ``{"success": false, "error": {...}, "request_id": null}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import mimetypes
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from vidgate.errors import Forbidden, InvalidRequest, NotFound, VidgateError

__all__ = ["LocalStorage", "StoredObject", "files_router", "validate_key"]

_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_MAX_SEGMENTS = 8
_MAX_KEY_CHARS = 512
_SIG_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_SIG_DOMAIN = b"vidgate-files-v1"

_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe storage key (see module docs), else raise InvalidRequest."""
    if not isinstance(key, str) or not key or len(key) > _MAX_KEY_CHARS:
        raise InvalidRequest("Invalid storage key", field="key")
    segments = key.split("/")
    if len(segments) > _MAX_SEGMENTS or not all(_SEGMENT_RE.fullmatch(s) for s in segments):
        raise InvalidRequest("Invalid storage key", field="key")
    return key


def _validate_prefix(prefix: str) -> str:
    return validate_key(prefix[:-1] if prefix.endswith("/") else prefix)


def content_type_for(key: str) -> str:
    ext = os.path.splitext(key)[1].lower()
    return _CONTENT_TYPES.get(ext) or mimetypes.guess_type(key)[0] or "application/octet-stream"


@dataclass(frozen=True)
class StoredObject:
    key: str
    path: Path
    size: int
    content_type: str


class LocalStorage:
    """Files under ``root``, addressed by validated keys, with HMAC-signed expiring URLs."""

    #: ``signed_url`` rounds expiry up to a multiple of this many seconds (stable URLs → cacheable).
    expiry_granularity = 60

    def __init__(self, root: Path, secret: bytes) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        if not isinstance(secret, bytes | bytearray) or len(secret) < 16:
            raise ValueError("LocalStorage secret must be at least 16 bytes")
        self.root = Path(root).resolve()
        self._secret = bytes(secret)

    # --- files ---

    def open_path(self, key: str) -> Path:
        """The filesystem path for ``key`` (which may not exist). Raises InvalidRequest for a bad key."""
        path = self.root.joinpath(*validate_key(key).split("/"))
        # Defence in depth: the key grammar already forbids escaping the root.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidRequest("Invalid storage key", field="key")
        return path

    def put_file(self, key: str, src: Path, *, move: bool = False) -> StoredObject:
        """Store ``src`` at ``key`` atomically (readers see the old file or the whole new one).

        Copies by default; ``move=True`` renames when ``src`` is on the same filesystem (else copies
        and deletes ``src``). An existing object at ``key`` is replaced.
        """
        dest = self.open_path(key)
        src = Path(src)
        if not src.is_file():
            raise FileNotFoundError(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        moved = False
        try:
            if move:
                try:
                    os.replace(src, tmp)
                    moved = True
                except OSError:  # e.g. cross-device: fall back to copying
                    pass
            if not moved:
                with open(src, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1024 * 1024)
                    fout.flush()
                    os.fsync(fout.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            if moved:  # give the caller its file back
                try:
                    os.replace(tmp, src)
                except OSError:  # pragma: no cover
                    pass
            tmp.unlink(missing_ok=True)
            raise
        if move and not moved:
            src.unlink(missing_ok=True)
        _fsync_dir(dest.parent)
        return StoredObject(key=key, path=dest, size=dest.stat().st_size, content_type=content_type_for(key))

    def exists(self, key: str) -> bool:
        return self.open_path(key).is_file()

    def delete(self, key: str) -> bool:
        """Delete ``key``; True if it existed. Empty parent folders are removed too."""
        path = self.open_path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        self._prune(path.parent)
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete the folder ``prefix`` (e.g. ``"vid_01J..."`` or ``"vid_01J.../"``) and everything
        under it; returns how many files were removed. The prefix is a whole-segment key prefix, so
        ``"vid_1"`` does not touch ``"vid_10/..."``; an empty prefix is refused."""
        path = self.open_path(_validate_prefix(prefix))
        if path.is_file():  # a full key: delete just that
            return int(self.delete(prefix.rstrip("/")))
        if not path.is_dir():
            return 0
        count = sum(1 for p in path.rglob("*") if p.is_file() or p.is_symlink())
        shutil.rmtree(path)
        self._prune(path.parent)
        return count

    def _prune(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone)
                return
            folder = folder.parent

    # --- signed URLs ---

    def sign(self, key: str, expires_at: int) -> str:
        """Signature for ``key`` valid until ``expires_at`` (unix seconds): urlsafe-b64 HMAC-SHA256."""
        validate_key(key)
        msg = b"\n".join([_SIG_DOMAIN, key.encode(), str(int(expires_at)).encode()])
        digest = hmac.new(self._secret, msg, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def expiry_for(self, ttl_seconds: int, now: float | None = None) -> int:
        """``now + ttl`` rounded up to :attr:`expiry_granularity`."""
        now = time.time() if now is None else now
        g = self.expiry_granularity
        return int(math.ceil((now + ttl_seconds) / g) * g)

    def signed_url(self, base_url: str, key: str, ttl_seconds: int, now: float | None = None) -> str:
        """``{base_url}/files/{key}?expires=<unix>&sig=<sig>``."""
        expires = self.expiry_for(ttl_seconds, now)
        sig = self.sign(key, expires)
        return f"{base_url.rstrip('/')}/files/{quote(key, safe='/')}?expires={expires}&sig={sig}"

    def check(self, key: str, expires: Any, sig: Any, now: float | None = None) -> str:
        """``"ok"``, ``"expired"`` (a genuine signature past its expiry) or ``"invalid"``."""
        try:
            validate_key(key)
        except InvalidRequest:
            return "invalid"
        if isinstance(expires, str):
            if not expires.isascii() or not expires.isdigit() or len(expires) > 12:
                return "invalid"
            expires = int(expires)
        if isinstance(expires, bool) or not isinstance(expires, int) or expires < 0:
            return "invalid"
        if not isinstance(sig, str) or not _SIG_RE.fullmatch(sig):
            return "invalid"
        if not hmac.compare_digest(self.sign(key, expires), sig):
            return "invalid"
        now = time.time() if now is None else now
        return "ok" if now < expires else "expired"

    def verify(self, key: str, expires: Any, sig: Any, now: float | None = None) -> bool:
        """True when ``sig`` is this storage's signature of ``key``/``expires`` and it has not expired."""
        return self.check(key, expires, sig, now) == "ok"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------

_MAX_RANGES = 16


def parse_range(header: str, size: int) -> list[tuple[int, int]] | None:
    """Parse a ``Range`` header against a file of ``size`` bytes (RFC 9110 §14.1.2).

    Returns ``None`` when the header must be ignored (not ``bytes``, bad syntax, too many ranges),
    an empty list when no range is satisfiable (→ 416), else the satisfiable ranges as inclusive
    ``(first, last)`` pairs clamped to the file.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = [p.strip() for p in spec.split(",")]
    parts = [p for p in parts if p]
    if not parts or len(parts) > _MAX_RANGES:
        return None
    out: list[tuple[int, int]] = []
    for part in parts:
        first_s, dash, last_s = part.partition("-")
        first_s, last_s = first_s.strip(), last_s.strip()
        if not dash or not _digits(first_s, True) or not _digits(last_s, True) or not (first_s or last_s):
            return None
        if not first_s:  # suffix range: the last N bytes
            n = int(last_s)
            if n > 0 and size > 0:
                out.append((max(0, size - n), size - 1))
            continue
        first = int(first_s)
        last = int(last_s) if last_s else size - 1
        if last_s and last < first:
            return None  # invalid syntax: ignore the whole header
        if first < size:
            out.append((first, min(last, size - 1)))
    return out


def _digits(s: str, allow_empty: bool) -> bool:
    return (allow_empty and s == "") or (s.isascii() and s.isdigit() and len(s) <= 18)


class _RangeFileResponse(FileResponse):
    """FileResponse that sees a normalised ``Range`` header (or none) instead of the client's."""

    def __init__(self, *args: Any, range_header: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._range_header = range_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"range"]
        if self._range_header is not None:
            headers.append((b"range", self._range_header.encode("latin-1")))
        await super().__call__({**scope, "headers": headers}, receive, send)


class RangeNotSatisfiable(VidgateError):
    status_code = 416
    code = "range_not_satisfiable"
    default_message = "Requested range not satisfiable"


def _error(exc: VidgateError, extra_headers: dict[str, str] | None = None) -> JSONResponse:
    headers = {"Cache-Control": "no-store", **exc.headers, **(extra_headers or {})}
    return JSONResponse(
        {"success": False, "error": exc.to_error(), "request_id": None},
        status_code=exc.status_code,
        headers=headers,
    )


def files_router(storage_getter: Callable[[], LocalStorage]) -> APIRouter:
    """``GET``/``HEAD /files/{key}?expires=..&sig=..`` serving signed objects of ``storage_getter()``."""
    router = APIRouter()

    @router.api_route("/files/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def get_file(key: str, request: Request) -> Response:
        storage = storage_getter()
        params = request.query_params
        try:
            validate_key(key)
        except InvalidRequest:
            return _error(NotFound("File not found"))
        now = time.time()
        verdict = storage.check(key, params.get("expires"), params.get("sig"), now)
        if verdict == "expired":
            return _error(Forbidden("This link has expired; query the task again for a fresh URL", code="link_expired"))
        if verdict != "ok":
            return _error(Forbidden("Invalid or missing URL signature", code="invalid_signature"))

        path = storage.open_path(key)
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            return _error(NotFound("File not found"))

        expires = int(params["expires"])
        max_age = max(0, expires - int(now))
        headers = {
            "Cache-Control": f"private, max-age={max_age}",
            "Accept-Ranges": "bytes",
            "X-Content-Type-Options": "nosniff",
        }

        range_header: str | None = None
        raw_range = request.headers.get("range")
        if raw_range is not None:
            ranges = parse_range(raw_range, st.st_size)
            # With If-Range, an unsatisfiable range is simply ignored (full 200, which RFC 9110 allows)
            # rather than evaluating the validator here; FileResponse evaluates it for real ranges.
            if ranges == [] and request.headers.get("if-range") is None:
                return _error(
                    RangeNotSatisfiable(f"Requested range not satisfiable (size {st.st_size} bytes)"),
                    {"Content-Range": f"bytes */{st.st_size}", "Accept-Ranges": "bytes"},
                )
            if ranges:
                range_header = "bytes=" + ",".join(f"{a}-{b}" for a, b in ranges)

        return _RangeFileResponse(
            path,
            media_type=content_type_for(key),
            headers=headers,
            stat_result=st,
            range_header=range_header,
        )

    return router

"""Download a user-supplied video URL to disk, safely.

* Every connection goes through the SSRF guard (:mod:`vidgate.media.ssrf`); redirects are followed by
  hand and re-checked on every hop.
* A Sora share link (``https://sora.chatgpt.com/p/...``) is first resolved to its media URL with
  :func:`vidgate.media.sharelinks.resolve`; the final URL after redirects must still be on the media
  host (``videos.openai.com``), and a 403 on the media URL (expired SAS link) triggers one re-resolve.
* The body streams to ``<dest>.part`` and is renamed to ``dest`` only when complete. The size is capped
  by ``Settings.fetch_max_bytes`` (declared Content-Length checked up front *and* bytes counted while
  streaming) and the whole operation by ``Settings.fetch_timeout_seconds``.
* The first bytes must look like a video container (MP4/MOV, Matroska/WebM, AVI, MPEG-TS, FLV);
  anything else is refused with :class:`BadMedia` naming what it looks like (HTML, JSON...).
* On any failure the partial file is removed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from vidgate.errors import BadMedia, FetchError
from vidgate.media import sharelinks
from vidgate.media.sharelinks import ResolvedShareLink, ShareLinkError
from vidgate.media.ssrf import check_url, guarded_async_client, guarded_request
from vidgate.settings import Settings

__all__ = ["FetchedVideo", "describe_content", "fetch_video", "fetch_video_sync", "sniff_video"]

Progress = Callable[[int, int | None], None]

SNIFF_BYTES = 4096  # how much of the body is inspected before anything is written
CHUNK_BYTES = 256 * 1024
USER_AGENT = "vidgate/0.1 (+video fetcher)"

_MP4_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"})


@dataclass(frozen=True)
class FetchedVideo:
    path: Path
    source_url: str  # what the user gave us
    final_url: str  # where the bytes came from, after share-link resolution and redirects
    bytes: int
    content_type: str | None
    share_link: ResolvedShareLink | None = None
    container: str = ""  # "mp4", "matroska", "avi", "mpegts", "m2ts" or "flv"


def _is_transport_stream(head: bytes, packet: int, offset: int) -> bool:
    positions = range(offset, min(len(head), offset + packet * 8), packet)
    if len(positions) < 2:  # a single sync byte proves nothing ("GIF8..." starts with 0x47)
        return False
    return all(head[p] == 0x47 for p in positions)


def sniff_video(head: bytes) -> str | None:
    """The container the first bytes announce, or None when they are not a video."""
    if len(head) >= 8 and head[4:8] in _MP4_BOXES:
        size = int.from_bytes(head[:4], "big")
        if size in (0, 1) or size >= 8:
            return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if len(head) >= 4 and head[:3] == b"FLV" and head[3] == 1:
        return "flv"
    if _is_transport_stream(head, 188, 0):
        return "mpegts"
    if _is_transport_stream(head, 192, 4):
        return "m2ts"
    return None


def describe_content(head: bytes) -> str:
    """A short human description of a non-video body, for error messages."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    lower = text[:64].lower()
    if not head:
        return "an empty body"
    if lower.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<script", b"<meta")):
        return "HTML"
    if lower.startswith(b"<"):
        return "XML"
    if lower.startswith((b"{", b"[")):
        return "JSON"
    for magic, name in (
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1f\x8b", "gzip data"),
        (b"ID3", "MP3 audio"),
    ):
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV audio"
    try:
        text.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "unknown binary data"


class _MediaForbidden(Exception):
    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body


def _host_allowed(url: httpx.URL, hosts: tuple[str, ...]) -> bool:
    return url.host.lower().rstrip(".") in hosts


async def _download(
    client: httpx.AsyncClient,
    url: str,
    part: Path,
    *,
    settings: Settings,
    progress: Progress | None,
    media_hosts: tuple[str, ...] | None,
) -> tuple[str, int, str | None, str]:
    """Stream ``url`` into ``part``. Returns (final_url, bytes, content_type, container)."""
    limit = settings.fetch_max_bytes
    headers = {"Accept-Encoding": "identity", "Accept": "video/*,*/*;q=0.5"}
    if media_hosts is not None:
        headers["User-Agent"] = sharelinks.BROWSER_USER_AGENT
    response = await guarded_request(client, "GET", url, settings=settings, stream=True, headers=headers)
    try:
        final_url = response.url
        if media_hosts is not None and (
            not _host_allowed(final_url, media_hosts) or final_url.scheme not in {"https", httpx.URL(url).scheme}
        ):
            raise ShareLinkError(
                f"Sora media URL ended up on {final_url.scheme}://{final_url.host}, "
                f"not on {', '.join(media_hosts)}; refused",
                reason=sharelinks.BAD_MEDIA_HOST,
            )
        if media_hosts is not None and response.status_code == 403:
            raise _MediaForbidden(403, await _read_some(response, 4096))
        if not response.is_success:
            raise FetchError(
                f"Fetching {url} failed: HTTP {response.status_code} {response.reason_phrase}".rstrip(),
                details={"status": response.status_code},
            )
        declared = response.headers.get("content-length", "").strip()
        total = int(declared) if declared.isdigit() else None
        if total is not None and total > limit:
            raise FetchError(f"{url} is too large: {total} bytes (limit {limit} bytes)")
        content_type = response.headers.get("content-type")

        received = 0
        head = bytearray()
        container: str | None = None
        async with await anyio.open_file(part, "wb") as out:
            async for chunk in response.aiter_bytes(CHUNK_BYTES):
                received += len(chunk)
                if received > limit:
                    raise FetchError(f"{url} is too large: more than {limit} bytes (limit {limit} bytes)")
                if container is None:
                    head += chunk
                    if len(head) < SNIFF_BYTES:
                        continue
                    container = _sniff_or_raise(bytes(head), url)
                    await out.write(bytes(head))
                    head.clear()
                else:
                    await out.write(chunk)
                if progress is not None:
                    progress(received, total)
            if container is None:  # short body: sniff whatever arrived
                container = _sniff_or_raise(bytes(head), url)
                await out.write(bytes(head))
                if progress is not None:
                    progress(received, total)
        return str(final_url), received, content_type, container
    finally:
        await response.aclose()


def _sniff_or_raise(head: bytes, url: str) -> str:
    container = sniff_video(head)
    if container is None:
        raise BadMedia(f"{url} is not a video (looks like {describe_content(head)})")
    return container


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


async def _fetch(url: str, part: Path, settings: Settings, progress: Progress | None) -> FetchedVideo:
    share: ResolvedShareLink | None = None
    media_url = url
    if sharelinks.is_share_link(url):
        share = await sharelinks.resolve(url, settings=settings)
        media_url = share.media_url
    async with guarded_async_client(settings, headers={"User-Agent": USER_AGENT}) as client:
        for attempt in range(2):
            try:
                final_url, size, content_type, container = await _download(
                    client,
                    media_url,
                    part,
                    settings=settings,
                    progress=progress,
                    media_hosts=share.media_hosts if share else None,
                )
                break
            except _MediaForbidden as exc:
                assert share is not None
                expired = b"AuthenticationFailed" in exc.body or share.expires_soon(0)
                if attempt == 0:  # the SAS link expired (or was refused): re-resolve once
                    share = await sharelinks.resolve(url, settings=settings)
                    media_url = share.media_url
                    continue
                raise ShareLinkError(
                    f"The Sora media URL was refused (HTTP {exc.status}"
                    f"{', link expired' if expired else ''}) even after re-resolving the share link",
                    reason=sharelinks.EXPIRED if expired else sharelinks.UPSTREAM_ERROR,
                    status=exc.status,
                ) from None
    return FetchedVideo(
        path=part,  # renamed by the caller
        source_url=url,
        final_url=final_url,
        bytes=size,
        content_type=content_type,
        share_link=share,
        container=container,
    )


async def fetch_video(
    url: str,
    dest: Path,
    *,
    settings: Settings,
    progress: Progress | None = None,
) -> FetchedVideo:
    """Download the video at ``url`` (or behind a Sora share link) to ``dest``.

    Raises :class:`UnsafeURL` (guard refused), :class:`ShareLinkError` (share link could not be
    resolved), :class:`FetchError` (HTTP status, size, timeout, network) or :class:`BadMedia`
    (not a video). ``progress(bytes_so_far, total_or_None)`` is called as data arrives.
    """
    check_url(url, allow_private=settings.allow_private_urls, max_chars=settings.max_url_chars)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    timeout = settings.fetch_timeout_seconds
    try:
        try:
            async with asyncio.timeout(timeout):
                fetched = await _fetch(url, part, settings, progress)
        except TimeoutError:
            raise FetchError(f"Fetching {url} timed out after {timeout:g} s") from None
        except httpx.TimeoutException:
            raise FetchError(f"Fetching {url} timed out") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"Fetching {url} failed: {type(exc).__name__}: {exc}") from None
        os.replace(part, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    return FetchedVideo(
        path=dest,
        source_url=fetched.source_url,
        final_url=fetched.final_url,
        bytes=fetched.bytes,
        content_type=fetched.content_type,
        share_link=fetched.share_link,
        container=fetched.container,
    )


def fetch_video_sync(
    url: str,
    dest: Path,
    *,
    settings: Settings,
    progress: Progress | None = None,
) -> FetchedVideo:
    """Blocking :func:`fetch_video` with its own event loop (in a helper thread if one is running here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch_video(url, dest, settings=settings, progress=progress))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(fetch_video(url, dest, settings=settings, progress=progress))).result()

"""The fetcher against a loopback server (allow_private_urls=True), plus the content sniffer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from vidgate.errors import BadMedia, FetchError, UnsafeURL
from vidgate.media.fetch import FetchedVideo, describe_content, fetch_video, fetch_video_sync, sniff_video

from .loopback import Reply


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir()) if dest.parent.exists() else []


async def test_streams_video_to_disk(server, settings, tmp_path, mp4) -> None:
    server.route("/v.mp4", Reply(200, mp4, {"Content-Type": "video/mp4"}))
    server.route("/go", Reply(302, headers={"Location": "/v.mp4"}))
    dest = tmp_path / "in" / "video.mp4"
    calls: list[tuple[int, int | None]] = []
    got = await fetch_video(server.url("/go"), dest, settings=settings, progress=lambda n, t: calls.append((n, t)))
    assert isinstance(got, FetchedVideo)
    assert dest.read_bytes() == mp4
    assert got.path == dest and got.bytes == len(mp4) and got.container == "mp4"
    assert got.content_type == "video/mp4" and got.share_link is None
    assert got.source_url == server.url("/go") and got.final_url == server.url("/v.mp4")
    assert calls[-1] == (len(mp4), len(mp4))
    assert _leftovers(dest) == ["video.mp4"]
    assert server.seen[-1].headers["accept-encoding"] == "identity"


async def test_streams_without_content_length(server, settings, tmp_path, mp4) -> None:
    server.route("/v", Reply(200, chunks=[mp4[i : i + 1000] for i in range(0, len(mp4), 1000)]))
    calls: list[tuple[int, int | None]] = []
    got = await fetch_video(
        server.url("/v"), tmp_path / "v.mp4", settings=settings, progress=lambda n, t: calls.append((n, t))
    )
    assert got.bytes == len(mp4) and (tmp_path / "v.mp4").read_bytes() == mp4
    assert calls[-1] == (len(mp4), None)


async def test_size_cap_from_content_length(server, settings, tmp_path, mp4) -> None:
    settings.fetch_max_bytes = 10_000
    server.route("/big", Reply(200, mp4))
    dest = tmp_path / "big.mp4"
    with pytest.raises(FetchError, match=r"too large: 20\d+ bytes \(limit 10000"):
        await fetch_video(server.url("/big"), dest, settings=settings)
    assert _leftovers(dest) == []


async def test_size_cap_while_streaming(server, settings, tmp_path, mp4) -> None:
    settings.fetch_max_bytes = 10_000
    server.route("/big", Reply(200, chunks=[mp4[i : i + 2000] for i in range(0, len(mp4), 2000)]))
    dest = tmp_path / "big.mp4"
    with pytest.raises(FetchError, match="more than 10000 bytes"):
        await fetch_video(server.url("/big"), dest, settings=settings)
    assert _leftovers(dest) == []


@pytest.mark.parametrize(
    ("body", "ctype", "looks_like"),
    [
        (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>", "text/html", "HTML"),
        (b'{"error": {"message": "nope"}}', "application/json", "JSON"),
        (b'<?xml version="1.0"?><Error><Code>AuthenticationFailed</Code></Error>', "application/xml", "XML"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "video/mp4", "a PNG image"),
        (b"", "video/mp4", "an empty body"),
    ],
)
async def test_non_video_refused(server, settings, tmp_path, body, ctype, looks_like) -> None:
    server.route("/x", Reply(200, body, {"Content-Type": ctype}))
    dest = tmp_path / "x.mp4"
    with pytest.raises(BadMedia, match=rf"is not a video \(looks like {looks_like}\)"):
        await fetch_video(server.url("/x"), dest, settings=settings)
    assert _leftovers(dest) == []


async def test_overall_timeout_removes_partial_file(server, settings, tmp_path, mp4) -> None:
    settings.fetch_timeout_seconds = 0.6
    # Each chunk arrives well within any per-read timeout, but the whole download takes ~4 s.
    server.route("/slow", Reply(200, chunks=[mp4[:5000]] + [b"\x00" * 100] * 40, delay_between_chunks=0.1))
    dest = tmp_path / "slow.mp4"
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0\.6 s"):
        await fetch_video(server.url("/slow"), dest, settings=settings)
    assert time.monotonic() - started < 3
    assert _leftovers(dest) == []


@pytest.mark.parametrize("status", [404, 403, 500])
async def test_http_error_status(server, settings, tmp_path, status) -> None:
    server.route("/missing", Reply(status, b"nope"))
    with pytest.raises(FetchError, match=rf"failed: HTTP {status}") as info:
        await fetch_video(server.url("/missing"), tmp_path / "m.mp4", settings=settings)
    assert info.value.details["status"] == status
    assert _leftovers(tmp_path / "m.mp4") == []


async def test_failure_keeps_existing_destination(server, settings, tmp_path) -> None:
    dest = tmp_path / "keep.mp4"
    dest.write_bytes(b"old")
    server.route("/html", Reply(200, b"<html></html>"))
    with pytest.raises(BadMedia):
        await fetch_video(server.url("/html"), dest, settings=settings)
    assert dest.read_bytes() == b"old" and _leftovers(dest) == ["keep.mp4"]


async def test_guard_applies(server, strict_settings, tmp_path) -> None:
    server.route("/v", Reply(200, b"x"))
    for url in (server.url("/v"), f"http://localhost:{server.port}/v", "file:///etc/passwd"):
        with pytest.raises(UnsafeURL):
            await fetch_video(url, tmp_path / "v.mp4", settings=strict_settings)
    assert server.seen == []


async def test_connection_refused_is_fetch_error(settings, tmp_path) -> None:
    with pytest.raises(FetchError, match="failed: ConnectError"):
        await fetch_video("http://127.0.0.1:1/v.mp4", tmp_path / "v.mp4", settings=settings)


def test_sync_wrapper(server, settings, tmp_path, mp4) -> None:
    server.route("/v.mp4", Reply(200, mp4))
    got = fetch_video_sync(server.url("/v.mp4"), tmp_path / "a.mp4", settings=settings)
    assert got.bytes == len(mp4)


async def test_sync_wrapper_inside_running_loop(server, settings, tmp_path, mp4) -> None:
    server.route("/v.mp4", Reply(200, mp4))
    got = await asyncio.to_thread(lambda: fetch_video_sync(server.url("/v.mp4"), tmp_path / "b.mp4", settings=settings))
    assert got.bytes == len(mp4)
    got = fetch_video_sync(server.url("/v.mp4"), tmp_path / "c.mp4", settings=settings)  # loop running here
    assert got.bytes == len(mp4)


# ----------------------------------------------------------------------------------------------- sniffer

TS_PACKET = b"\x47" + b"\x00" * 187


@pytest.mark.parametrize(
    ("head", "container"),
    [
        ((24).to_bytes(4, "big") + b"ftypisom" + b"\x00" * 16, "mp4"),
        ((24).to_bytes(4, "big") + b"ftypqt  " + b"\x00" * 16, "mp4"),
        ((8).to_bytes(4, "big") + b"wide" + (100).to_bytes(4, "big") + b"mdat", "mp4"),
        ((100).to_bytes(4, "big") + b"moov" + b"\x00" * 8, "mp4"),
        ((1).to_bytes(4, "big") + b"mdat" + b"\x00" * 16, "mp4"),
        ((16).to_bytes(4, "big") + b"free" + b"\x00" * 8, "mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "matroska"),
        (b"RIFF\x00\x10\x00\x00AVI LIST", "avi"),
        (b"FLV\x01\x05\x00\x00\x00\x09", "flv"),
        (TS_PACKET * 3, "mpegts"),
        ((b"\x00\x00\x00\x00" + TS_PACKET) * 3, "m2ts"),
    ],
)
def test_sniff_video(head: bytes, container: str) -> None:
    assert sniff_video(head) == container


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"<html><body>hi</body></html>",
        b'{"a": 1}',
        b"GIF89a" + b"\x00" * 50,  # starts with 0x47 like a TS packet
        TS_PACKET,  # one packet proves nothing
        TS_PACKET + b"\x00" * 188,
        b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        b"\x89PNG\r\n\x1a\n",
        (3).to_bytes(4, "big") + b"ftyp",  # impossible box size
        b"ID3\x03\x00",
    ],
)
def test_sniff_rejects(head: bytes) -> None:
    assert sniff_video(head) is None


def test_describe_content() -> None:
    assert describe_content(b"\xef\xbb\xbf  <!doctype html>") == "HTML"
    assert describe_content(b"[1, 2]") == "JSON"
    assert describe_content(b"hello") == "text"
    assert describe_content(b"\xff\xfe\x00\x81") == "unknown binary data"
    assert describe_content(b"RIFF\x00\x00\x00\x00WEBP") == "a WebP image"

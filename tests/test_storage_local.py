"""LocalStorage: keys, atomic puts, signatures, and the /files route over real HTTP (uvicorn + httpx)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from vidgate.errors import InvalidRequest
from vidgate.storage.local import LocalStorage, files_router, parse_range, validate_key

SECRET = b"test-secret-0123456789abcdef"
KEY = "vid_01JTESTKEY0000000000000000/video.mp4"
PAYLOAD = bytes((i * 7 + i // 251) % 256 for i in range(200_003))  # odd size, non-repeating-ish

BAD_KEYS = [
    "",
    ".",
    "..",
    "../x.mp4",
    "a/../b.mp4",
    "a/./b.mp4",
    "/etc/passwd",
    "a//b.mp4",
    "a/",
    "a\\b.mp4",
    "..\\..\\x",
    "a\x00b.mp4",
    "a\nb.mp4",
    ".hidden",
    "vid/.video.mp4.tmp",
    "C:/x.mp4",
    "C:\\x.mp4",
    "vidé/video.mp4",
    "a b.mp4",
    "%2e%2e/x.mp4",
    "~/x",
    "/".join(["a"] * 9),
    "x" * 129,
]


# --------------------------------------------------------------------------------------------------
# Keys and files
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "results", SECRET)


@pytest.fixture
def src_file(tmp_path: Path) -> Path:
    p = tmp_path / "src.mp4"
    p.write_bytes(PAYLOAD)
    return p


@pytest.mark.parametrize(
    "key", ["video.mp4", KEY, "vid_1/thumbs/0001.jpg", "a-b_c.d/e", "/".join(["a"] * 8), "x" * 128]
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_rejected_everywhere(storage: LocalStorage, src_file: Path, key: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_key(key)
    with pytest.raises(InvalidRequest):
        storage.put_file(key, src_file)
    for method in (storage.open_path, storage.exists, storage.delete):
        with pytest.raises(InvalidRequest):
            method(key)
    with pytest.raises(InvalidRequest):
        storage.sign(key, 2_000_000_000)
    assert storage.verify(key, 2_000_000_000, "A" * 43) is False
    # Nothing was written anywhere near the root.
    assert not storage.root.exists() or list(storage.root.rglob("*")) == []
    assert sorted(p.name for p in src_file.parent.iterdir()) == ["src.mp4"]


def test_non_string_key_rejected(storage: LocalStorage) -> None:
    with pytest.raises(InvalidRequest):
        validate_key(None)  # type: ignore[arg-type]


def test_secret_must_be_long_enough(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalStorage(tmp_path, b"short")


def test_put_file_copies_atomically(storage: LocalStorage, src_file: Path) -> None:
    obj = storage.put_file(KEY, src_file)
    assert obj.key == KEY
    assert obj.path == storage.root / "vid_01JTESTKEY0000000000000000" / "video.mp4"
    assert obj.size == len(PAYLOAD)
    assert obj.content_type == "video/mp4"
    assert obj.path.read_bytes() == PAYLOAD
    assert src_file.exists()  # copy by default
    assert storage.exists(KEY)
    assert storage.open_path(KEY) == obj.path
    # No temp files left behind.
    assert [p.name for p in obj.path.parent.iterdir()] == ["video.mp4"]


def test_put_file_replaces_existing(storage: LocalStorage, src_file: Path, tmp_path: Path) -> None:
    storage.put_file(KEY, src_file)
    other = tmp_path / "other.mp4"
    other.write_bytes(b"new content")
    obj = storage.put_file(KEY, other)
    assert obj.size == len(b"new content")
    assert obj.path.read_bytes() == b"new content"
    assert [p.name for p in obj.path.parent.iterdir()] == ["video.mp4"]


def test_put_file_move(storage: LocalStorage, src_file: Path) -> None:
    obj = storage.put_file(KEY, src_file, move=True)
    assert not src_file.exists()
    assert obj.path.read_bytes() == PAYLOAD


def test_put_file_missing_source(storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.put_file(KEY, tmp_path / "nope.mp4")


def test_delete_and_prune(storage: LocalStorage, src_file: Path) -> None:
    storage.put_file("vid_1/video.mp4", src_file)
    assert storage.delete("vid_1/video.mp4") is True
    assert storage.delete("vid_1/video.mp4") is False
    assert not storage.exists("vid_1/video.mp4")
    assert not (storage.root / "vid_1").exists()  # empty folder pruned
    assert storage.root.exists()  # never the root itself


def test_delete_prefix(storage: LocalStorage, src_file: Path) -> None:
    for key in ("vid_1/video.mp4", "vid_1/thumbs/a.jpg", "vid_1/thumbs/b.jpg", "vid_10/video.mp4"):
        storage.put_file(key, src_file)
    assert storage.delete_prefix("vid_1") == 3
    assert not (storage.root / "vid_1").exists()
    assert storage.exists("vid_10/video.mp4")  # whole-segment prefix: vid_10 untouched
    assert storage.delete_prefix("vid_10/") == 1
    assert storage.delete_prefix("vid_404") == 0
    storage.put_file("vid_2/video.mp4", src_file)
    assert storage.delete_prefix("vid_2/video.mp4") == 1  # a full key works too
    for bad in ("", "/", "..", "../", "vid_1/../..", "/tmp"):
        with pytest.raises(InvalidRequest):
            storage.delete_prefix(bad)


def test_symlink_escape_refused(storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"secret")
    storage.root.mkdir(parents=True, exist_ok=True)
    (storage.root / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidRequest):
        storage.open_path("evil/secret.mp4")


# --------------------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------------------


def test_sign_and_verify(storage: LocalStorage) -> None:
    now = 1_700_000_000.0
    exp = int(now) + 3600
    sig = storage.sign(KEY, exp)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sig)
    assert storage.verify(KEY, exp, sig, now=now)
    assert storage.verify(KEY, str(exp), sig, now=now)  # as it arrives in a query string
    assert storage.check(KEY, exp, sig, now=now) == "ok"
    # Expiry: valid strictly before `expires`.
    assert storage.verify(KEY, exp, sig, now=exp - 0.001)
    assert not storage.verify(KEY, exp, sig, now=exp)
    assert storage.check(KEY, exp, sig, now=exp + 10) == "expired"
    # Tampering.
    assert not storage.verify("vid_01JTESTKEY0000000000000000/other.mp4", exp, sig, now=now)
    assert not storage.verify(KEY, exp + 60, sig, now=now)
    flipped = ("B" if sig[0] != "B" else "C") + sig[1:]
    assert not storage.verify(KEY, exp, flipped, now=now)
    assert not LocalStorage(storage.root, SECRET + b"x").verify(KEY, exp, sig, now=now)
    for bad_exp in (None, "", "abc", "-5", " 1", "1e10", "١٢٣", "9" * 13, True, 1.5, -1):
        assert storage.check(KEY, bad_exp, sig, now=now) == "invalid"
    for bad_sig in (None, "", sig[:-1], sig + "A", sig + "=", sig.encode(), "!" * 43):
        assert storage.check(KEY, exp, bad_sig, now=now) == "invalid"


def test_signature_is_hmac_sha256_over_key_and_expiry(storage: LocalStorage) -> None:
    mac = hmac.new(SECRET, b"vidgate-files-v1\n" + KEY.encode() + b"\n1700000000", hashlib.sha256)
    assert storage.sign(KEY, 1_700_000_000) == base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def test_signed_url_format_and_rounding(storage: LocalStorage) -> None:
    now = 1_700_000_012.5
    url = storage.signed_url("http://gw.example:8000/", KEY, 3600, now=now)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"http://gw.example:8000/files/{KEY}"
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert set(q) == {"expires", "sig"}
    exp = int(q["expires"])
    assert exp % 60 == 0
    assert now + 3600 <= exp < now + 3600 + 60
    assert storage.verify(KEY, q["expires"], q["sig"], now=now)
    # Same URL for every request in the same minute → cacheable.
    for later in (now + 1, now + 20, 1_700_000_040.0):
        assert storage.signed_url("http://gw.example:8000", KEY, 3600, now=later) == url
    assert storage.signed_url("http://gw.example:8000", KEY, 3600, now=1_700_000_041.0) != url


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", [(0, 99)]),
        ("bytes=100-", [(100, 999)]),
        ("bytes=-100", [(900, 999)]),
        ("bytes=-5000", [(0, 999)]),
        ("bytes=990-5000", [(990, 999)]),
        ("BYTES = 0-0", [(0, 0)]),
        ("bytes=0-9, 20-29", [(0, 9), (20, 29)]),
        ("bytes=0-9,1000-1010", [(0, 9)]),  # unsatisfiable part dropped
        ("bytes=1000-", []),
        ("bytes=1000-2000", []),
        ("bytes=-0", []),
        ("bytes=5-2", None),
        ("bytes=abc", None),
        ("bytes=-", None),
        ("bytes=1-2-3", None),
        ("bytes=+1-2", None),
        ("items=0-9", None),
        ("bytes", None),
        ("bytes=", None),
        ("bytes=" + ",".join(["0-1"] * 17), None),
    ],
)
def test_parse_range(header: str, expected: list[tuple[int, int]] | None) -> None:
    assert parse_range(header, 1000) == expected


def test_parse_range_empty_file() -> None:
    assert parse_range("bytes=0-", 0) == []
    assert parse_range("bytes=-10", 0) == []


# --------------------------------------------------------------------------------------------------
# HTTP over loopback
# --------------------------------------------------------------------------------------------------


class _Server:
    def __init__(self, storage: LocalStorage, base_url: str, thread: threading.Thread, server: uvicorn.Server):
        self.storage = storage
        self.base_url = base_url
        self.thread = thread
        self.server = server

    def url(self, key: str = KEY, ttl: int = 600) -> str:
        return self.storage.signed_url(self.base_url, key, ttl)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    base = tmp_path_factory.mktemp("http")
    storage = LocalStorage(base / "results", SECRET)
    src = base / "src.mp4"
    src.write_bytes(PAYLOAD)
    storage.put_file(KEY, src)
    (base / "secret.txt").write_bytes(b"TOP SECRET")  # sits next to the root: traversal target

    app = FastAPI()
    app.include_router(files_router(lambda: storage))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield _Server(storage, f"http://127.0.0.1:{port}", thread, srv)
    finally:
        srv.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def _assert_envelope(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["success"] is False
    assert body["request_id"] is None
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def _raw_get(server: _Server, target: str) -> tuple[int, bytes]:
    """Send a request line byte-for-byte (no client-side URL normalisation)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


def test_full_get(server: _Server, client: httpx.Client) -> None:
    resp = client.get(server.url(ttl=600))
    assert resp.status_code == 200
    assert resp.content == PAYLOAD
    assert resp.headers["content-type"] == "video/mp4"
    assert resp.headers["accept-ranges"] == "bytes"
    assert resp.headers["content-length"] == str(len(PAYLOAD))
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "etag" in resp.headers and "last-modified" in resp.headers
    m = re.fullmatch(r"private, max-age=(\d+)", resp.headers["cache-control"])
    assert m and 590 <= int(m.group(1)) <= 660  # bounded by the (rounded-up) expiry


def test_head(server: _Server, client: httpx.Client) -> None:
    resp = client.head(server.url())
    assert resp.status_code == 200
    assert resp.content == b""
    assert resp.headers["content-length"] == str(len(PAYLOAD))
    assert resp.headers["content-type"] == "video/mp4"
    assert resp.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=150000-", 150000, len(PAYLOAD) - 1),
        ("bytes=-500", len(PAYLOAD) - 500, len(PAYLOAD) - 1),
        ("bytes=199000-999999999", 199000, len(PAYLOAD) - 1),  # clamped to the end
        ("bytes=-999999999", 0, len(PAYLOAD) - 1),  # suffix longer than the file
        ("bytes=0-0", 0, 0),
    ],
)
def test_range_forms(server: _Server, client: httpx.Client, range_header: str, first: int, last: int) -> None:
    resp = client.get(server.url(), headers={"Range": range_header})
    assert resp.status_code == 206
    assert resp.headers["content-range"] == f"bytes {first}-{last}/{len(PAYLOAD)}"
    assert resp.headers["content-length"] == str(last - first + 1)
    assert resp.headers["content-type"] == "video/mp4"
    assert resp.headers["accept-ranges"] == "bytes"
    assert resp.content == PAYLOAD[first : last + 1]


def test_head_with_range(server: _Server, client: httpx.Client) -> None:
    resp = client.head(server.url(), headers={"Range": "bytes=10-19"})
    assert resp.status_code == 206
    assert resp.content == b""
    assert resp.headers["content-range"] == f"bytes 10-19/{len(PAYLOAD)}"
    assert resp.headers["content-length"] == "10"


def test_multi_range(server: _Server, client: httpx.Client) -> None:
    resp = client.get(server.url(), headers={"Range": "bytes=0-9,100-109"})
    assert resp.status_code == 206
    assert resp.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert PAYLOAD[0:10] in resp.content and PAYLOAD[100:110] in resp.content
    assert f"bytes 100-109/{len(PAYLOAD)}".encode() in resp.content


@pytest.mark.parametrize(
    "range_header", ["bytes=200003-", f"bytes={len(PAYLOAD) + 10}-{len(PAYLOAD) + 20}", "bytes=-0"]
)
def test_range_not_satisfiable(server: _Server, client: httpx.Client, range_header: str) -> None:
    resp = client.get(server.url(), headers={"Range": range_header})
    _assert_envelope(resp, 416, "range_not_satisfiable")
    assert resp.headers["content-range"] == f"bytes */{len(PAYLOAD)}"


@pytest.mark.parametrize("range_header", ["bytes=5-2", "bytes=abc", "items=0-9", "bytes=0-1-2"])
def test_invalid_range_ignored(server: _Server, client: httpx.Client, range_header: str) -> None:
    resp = client.get(server.url(), headers={"Range": range_header})
    assert resp.status_code == 200
    assert resp.content == PAYLOAD


def test_if_range_mismatch_gives_full_file(server: _Server, client: httpx.Client) -> None:
    resp = client.get(server.url(), headers={"Range": "bytes=0-9", "If-Range": '"stale-etag"'})
    assert resp.status_code == 200
    assert resp.content == PAYLOAD
    etag = client.head(server.url()).headers["etag"]
    resp = client.get(server.url(), headers={"Range": "bytes=0-9", "If-Range": etag})
    assert resp.status_code == 206
    assert resp.content == PAYLOAD[:10]


def test_if_range_with_unsatisfiable_range_gives_full_file(server: _Server, client: httpx.Client) -> None:
    resp = client.get(server.url(), headers={"Range": "bytes=999999999-", "If-Range": '"stale-etag"'})
    assert resp.status_code == 200
    assert resp.content == PAYLOAD


def test_bad_signature_403(server: _Server, client: httpx.Client) -> None:
    url = server.url()
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    base = f"{server.base_url}/files/{KEY}"
    flipped = ("B" if q["sig"][0] != "B" else "C") + q["sig"][1:]
    for bad in (
        f"{base}?expires={q['expires']}&sig={flipped}",
        f"{base}?expires={int(q['expires']) + 60}&sig={q['sig']}",  # tampered expiry
        f"{base}?expires={q['expires']}",
        f"{base}?sig={q['sig']}",
        base,
        f"{base}?expires=abc&sig={q['sig']}",
    ):
        _assert_envelope(client.get(bad), 403, "invalid_signature")
    head = client.head(f"{base}?expires={q['expires']}&sig={flipped}")
    assert head.status_code == 403 and head.content == b""


def test_tampered_key_403(server: _Server, client: httpx.Client) -> None:
    # A valid signature for one key does not open another (existing or not).
    other = "vid_01JTESTKEY0000000000000001/video.mp4"
    url = server.url(other)
    _assert_envelope(client.get(url.replace(other, KEY)), 403, "invalid_signature")


def test_expired_403(server: _Server, client: httpx.Client) -> None:
    url = server.storage.signed_url(server.base_url, KEY, 3600, now=time.time() - 7200)
    _assert_envelope(client.get(url), 403, "link_expired")


def test_missing_404(server: _Server, client: httpx.Client) -> None:
    _assert_envelope(client.get(server.url("vid_missing/video.mp4")), 404, "not_found")
    _assert_envelope(client.get(server.url("vid_01JTESTKEY0000000000000000")), 404, "not_found")  # a folder


def _forged_query(key: str, expires: int) -> str:
    """A *correct* HMAC for an invalid key, computed without LocalStorage's key check."""
    msg = b"vidgate-files-v1\n" + key.encode() + b"\n" + str(expires).encode()
    sig = base64.urlsafe_b64encode(hmac.new(SECRET, msg, hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"expires={expires}&sig={sig}"


@pytest.mark.parametrize(
    ("target", "key"),
    [
        ("/files/../secret.txt", "../secret.txt"),
        ("/files/..%2Fsecret.txt", "../secret.txt"),
        ("/files/%2e%2e/secret.txt", "../secret.txt"),
        ("/files/vid_1/..%2F..%2Fsecret.txt", "vid_1/../../secret.txt"),
        ("/files/%2Fetc%2Fpasswd", "/etc/passwd"),
        ("/files//etc/passwd", "/etc/passwd"),
        ("/files/..%5Csecret.txt", "..\\secret.txt"),
        ("/files/a%00b", "a\x00b"),
    ],
)
def test_traversal_refused_by_route(server: _Server, target: str, key: str) -> None:
    status, data = _raw_get(server, f"{target}?{_forged_query(key, int(time.time()) + 600)}")
    assert status == 404, data[:300]
    assert b'"code":"not_found"' in data
    assert b"TOP SECRET" not in data and b"root:" not in data

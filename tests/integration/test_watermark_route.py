"""The sora-watermark-remover route: validated, charged, fetched through the SSRF guard, run by the engine."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servers import LiveServer
from vidgate.providers.simulator import render_test_pattern

GEN = "/api/v1/videos/generate"


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server with one real MP4, its first two fifths, and one HTML page."""
    root = tmp_path / "www"
    root.mkdir()
    render_test_pattern(root / "clip.mp4", prompt="source clip", aspect_ratio="portrait", seconds=2)
    (root / "page.html").write_text("<html><body>not a video</body></html>")
    whole = (root / "clip.mp4").read_bytes()  # (a faststart MP4: a partial copy keeps its header)
    (root / "part.mp4").write_bytes(whole[: len(whole) * 2 // 5])

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_private_video_url_refused_by_default(server: LiveServer, media_server: str) -> None:
    r = server.client(server.test_key).post(GEN, json={"model": "sora-watermark-remover",
                                                        "input": {"video_url": media_server + "/clip.mp4"}})
    assert r.status_code == 400 and r.json()["error"]["field"] == "video_url"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_not_a_video_fails_and_refunds(server_factory: Any, media_server: str) -> None:
    srv: LiveServer = server_factory(allow_private_urls=True)
    c = srv.client(srv.test_key)
    r = c.post(GEN, json={"model": "sora-watermark-remover", "input": {"video_url": media_server + "/page.html"}})
    assert r.status_code == 200 and r.json()["data"]["credits_used"] == 30
    done = srv.wait_task(srv.test_key, r.json()["data"]["task_id"])
    assert done["status"] == "failed" and "not a video" in done["error_message"].lower()
    assert done["credits_refunded"] == 30
    assert c.get("/api/v1/account/balances").json()["data"]["credits"] == 1000


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_truncated_video_fails_and_refunds(server_factory: Any, media_server: str) -> None:
    """A partial copy of a faststart MP4 (served whole, so the download itself succeeds) decodes
    its first frames and ends: the task fails as truncated and is refunded, no short video made."""
    srv: LiveServer = server_factory(allow_private_urls=True)
    r = srv.client(srv.test_key).post(
        GEN, json={"model": "sora-watermark-remover", "input": {"video_url": media_server + "/part.mp4"}})
    done = srv.wait_task(srv.test_key, r.json()["data"]["task_id"], timeout=120)
    assert done["status"] == "failed" and "truncated" in done["error_message"], done
    assert done["credits_refunded"] == 30


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_missing_url_fails_and_refunds(server_factory: Any, media_server: str) -> None:
    srv: LiveServer = server_factory(allow_private_urls=True)
    r = srv.client(srv.test_key).post(
        GEN, json={"model": "sora-watermark-remover", "input": {"video_url": media_server + "/gone.mp4"}})
    done = srv.wait_task(srv.test_key, r.json()["data"]["task_id"])
    assert done["status"] == "failed" and "404" in done["error_message"]
    assert done["credits_refunded"] == 30


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_clean_video_round_trip(server_factory: Any, media_server: str) -> None:
    """A video without a watermark: fetched, run through the engine in a worker process, re-hosted."""
    import av

    srv: LiveServer = server_factory(allow_private_urls=True)
    c = srv.client(srv.test_key)
    r = c.post(GEN, json={"model": "sora-watermark-remover", "callBackUrl": "https://example.invalid/cb",
                          "input": {"video_url": media_server + "/clip.mp4"}})
    assert r.status_code == 200, r.text
    done = srv.wait_task(srv.test_key, r.json()["data"]["task_id"], timeout=120)
    assert done["status"] == "completed", done
    assert done["watermark_found"] is False
    video = c.get(done["video_url"])
    assert video.status_code == 200
    out = Path(srv.settings.data_dir) / "out.mp4"
    out.write_bytes(video.content)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (360, 640)
        assert sum(1 for _ in container.decode(stream)) == 60

"""The two contract endpoints over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re

from servers import LiveServer

SORA2 = {
    "model": "sora2",
    "type": "text-to-video",
    "prompt": "A cinematic drone shot of a futuristic city at sunrise.",
    "aspect_ratio": "landscape",
    "n_frames": "10",
    "remove_watermark": False,
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_create_and_complete_in_test_mode(server: LiveServer) -> None:
    c = server.client(server.test_key)
    r = c.post("/api/v1/videos/generate", json=SORA2)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["request_id"].startswith("req_") and r.headers["x-request-id"] == body["request_id"]
    data = body["data"]
    assert set(data) >= {"task_id", "request_id", "credits_used", "remaining_credits", "model"}
    assert data["task_id"].startswith("vid_") and data["model"] == "sora2"
    assert data["credits_used"] == 30 and data["remaining_credits"] == 1000 - 30

    done = server.wait_task(server.test_key, data["task_id"])
    assert done["status"] == "completed", done
    assert done["video_url"] and done["output"]["resultUrls"] == [done["video_url"]]
    assert done["error_message"] is None and done["credits_refunded"] == 0
    for k in ("created_at", "updated_at", "completed_at"):
        assert ISO.match(done[k]), done[k]
    video = c.get(done["video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"


def test_input_shape_with_callback(server: LiveServer) -> None:
    c = server.client(server.test_key)
    body = {"model": "sora2", "callBackUrl": "https://example.invalid/cb", "input": {"prompt": "a kite"}}
    r = c.post("/api/v1/videos/generate", json=body)
    assert r.status_code == 200, r.text


def test_unknown_task_is_404_in_envelope(server: LiveServer) -> None:
    r = server.client(server.test_key).get("/api/v1/videos/vid_01HQ9MA3M6V6HC6S5R9V7N4Q4D")
    assert r.status_code == 404
    assert r.json()["success"] is False and r.json()["error"]["code"] == "task_not_found"
    assert r.json()["request_id"] == r.headers["x-request-id"]


def test_tenant_isolation(server: LiveServer) -> None:
    other = server.new_key()
    tid = server.client(server.test_key).post("/api/v1/videos/generate", json=SORA2).json()["data"]["task_id"]
    r = server.client(other).get(f"/api/v1/videos/{tid}")
    assert r.status_code == 404

"""Every error code the contract lists, reached for real, each in the error envelope."""

from __future__ import annotations

from typing import Any

import pytest

from servers import LiveServer
from vidgate.store import tasks as tasks_store

GEN = "/api/v1/videos/generate"


def assert_error(r: Any, status: int, code: str | None = None, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False
    assert body["request_id"] == r.headers["x-request-id"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    if field:
        assert body["error"].get("field") == field, body
    assert "Traceback" not in r.text
    return body


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "model"),
        ({"model": "sora3"}, "model"),
        ({"model": "sora2"}, "prompt"),
        ({"model": "sora2", "prompt": 5}, "prompt"),
        ({"model": "sora2", "prompt": "x", "n_frames": "12"}, "n_frames"),
        ({"model": "sora2", "prompt": "x", "aspect_ratio": "square"}, "aspect_ratio"),
        ({"model": "sora2", "prompt": "x", "type": "video-to-video"}, "type"),
        ({"model": "sora2", "prompt": "x", "remove_watermark": "yes"}, "remove_watermark"),
        ({"model": "sora2", "type": "image-to-video", "prompt": "x"}, "image_urls"),
        ({"model": "sora2", "prompt": "x", "image_urls": "http://a/b.png"}, "image_urls"),
        ({"model": "sora2", "prompt": "x", "image_urls": ["ftp://a/b.png"]}, "image_urls"),
        ({"model": "sora2", "prompt": "x", "image_urls": ["http://169.254.169.254/latest"]}, "image_urls"),
        ({"model": "sora2", "prompt": "x", "callBackUrl": "not a url"}, "callBackUrl"),
        ({"model": "sora2", "prompt": "x", "callBackUrl": "http://127.0.0.1:9/cb"}, "callBackUrl"),
        ({"model": "sora2", "prompt": "x", "upload_method": "gcs"}, "upload_method"),
        ({"model": "sora2", "prompt": "x", "upload_method": "s3"}, "upload_method"),
        ({"model": "sora2", "prompt": "x" * 5001}, "prompt"),
        ({"model": "sora2", "input": "prompt"}, "input"),
        ({"model": "sora-watermark-remover"}, "video_url"),
        ({"model": "sora-watermark-remover", "input": {"video_url": "file:///etc/passwd"}}, "video_url"),
        ({"model": "sora-watermark-remover", "input": {"video_url": "http://10.0.0.1/v.mp4"}}, "video_url"),
    ],
)
def test_400_names_the_field(server: LiveServer, payload: dict[str, Any], field: str) -> None:
    r = server.client(server.test_key).post(GEN, json=payload)
    assert_error(r, 400, "invalid_request", field)


def test_400_bad_json_and_non_object(server: LiveServer) -> None:
    c = server.client(server.test_key)
    assert_error(c.post(GEN, content=b"{nope", headers={"content-type": "application/json"}), 400)
    assert_error(c.post(GEN, json=[1, 2]), 400)
    assert_error(c.post(GEN, content=b"x" * 70_000), 400)


def test_failed_validation_charges_nothing(server: LiveServer) -> None:
    c = server.client(server.test_key)
    c.post(GEN, json={"model": "sora2"})
    assert c.get("/api/v1/account/balances").json()["data"]["credits"] == 1000


def test_401(server: LiveServer) -> None:
    assert_error(server.client().post(GEN, json={"model": "sora2", "prompt": "x"}), 401, "missing_api_key")
    assert_error(server.client("vg_test_wrong").get("/api/v1/videos/vid_x"), 401, "invalid_api_key")
    c = server.client()
    assert_error(c.get("/api/v1/videos/vid_x", headers={"Authorization": "Basic abc"}), 401)


def test_401_after_revoke(server: LiveServer) -> None:
    key = server.new_key()
    c = server.client(key)
    keys = c.get("/api/v1/keys").json()["data"]["keys"]
    assert len(keys) == 1 and keys[0]["status"] == "active"
    assert c.post(f"/api/v1/keys/{keys[0]['id']}/revoke").json()["data"]["status"] == "revoked"
    assert_error(c.get("/api/v1/account/balances"), 401, "invalid_api_key")


def test_402_insufficient_credits(server: LiveServer) -> None:
    key = server.new_key(credits=29)
    r = server.client(key).post(GEN, json={"model": "sora2", "prompt": "x"})
    assert_error(r, 402, "insufficient_credits")
    assert server.client(key).get("/api/v1/account/balances").json()["data"]["credits"] == 29


def test_403_account_not_approved(server: LiveServer) -> None:
    key = server.new_key(status="pending")
    assert_error(server.client(key).post(GEN, json={"model": "sora2", "prompt": "x"}), 403, "access_not_approved")


def test_403_non_gateway_host(server_factory: Any) -> None:
    srv: LiveServer = server_factory(gateway_hosts=["api.example.test"])
    r = srv.client(srv.test_key).get("/api/v1/account/balances")
    assert_error(r, 403, "host_not_allowed")
    ok = srv.client(srv.test_key).get("/api/v1/account/balances", headers={"Host": "api.example.test"})
    assert ok.status_code == 200


def test_409_idempotency_conflict(server: LiveServer) -> None:
    c = server.client(server.test_key)
    h = {"Idempotency-Key": "order-42"}
    assert c.post(GEN, json={"model": "sora2", "prompt": "one"}, headers=h).status_code == 200
    assert_error(c.post(GEN, json={"model": "sora2", "prompt": "two"}, headers=h), 409, "idempotency_conflict")


def test_429_rate_limit(server_factory: Any) -> None:
    srv: LiveServer = server_factory(rate_limit_rpm=5)
    c = srv.client(srv.test_key)
    codes = [c.get("/api/v1/account/balances").status_code for _ in range(6)]
    assert codes[:5] == [200] * 5
    r = c.get("/api/v1/account/balances")
    assert_error(r, 429, "rate_limit_exceeded")
    assert int(r.headers["retry-after"]) >= 1


def test_429_too_many_concurrent_tasks(server_factory: Any) -> None:
    srv: LiveServer = server_factory(max_concurrent_tasks=2, workers=False)
    c = srv.client(srv.test_key)
    for _ in range(2):
        assert c.post(GEN, json={"model": "sora2", "prompt": "x"}).status_code == 200
    r = c.post(GEN, json={"model": "sora2", "prompt": "x"})
    assert_error(r, 429, "too_many_concurrent_tasks")
    assert r.headers["retry-after"]
    assert c.get("/api/v1/account/balances").json()["data"]["credits"] == 1000 - 60


def test_451_blocked_prompt(server: LiveServer) -> None:
    c = server.client(server.test_key)
    assert_error(c.post(GEN, json={"model": "sora2", "prompt": "[sim:blocked] x"}), 451, "content_blocked")
    assert c.get("/api/v1/account/balances").json()["data"]["credits"] == 1000


def test_503_upstream_busy_and_no_upstream(server: LiveServer) -> None:
    c = server.client(server.test_key)
    assert_error(c.post(GEN, json={"model": "sora2", "prompt": "[sim:busy] x"}), 503, "upstream_unavailable")
    live = server.new_key(mode="live")
    r = server.client(live).post(GEN, json={"model": "sora2", "prompt": "x"})
    assert_error(r, 503, "no_upstream_configured")
    assert "No upstream provider" in r.json()["error"]["message"]
    assert server.client(live).get("/api/v1/account/balances").json()["data"]["credits"] == 1000


def test_500_is_a_clean_envelope(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(tasks_store, "read_task", boom)
    r = server.client(server.test_key).get("/api/v1/videos/vid_anything")
    body = assert_error(r, 500, "internal_error")
    assert "secret internal detail" not in r.text and body["error"]["message"] == "Internal server error"


def test_404_and_405_routes(server: LiveServer) -> None:
    c = server.client(server.test_key)
    assert_error(c.get("/api/v1/nope"), 404, "not_found")
    assert_error(c.delete(GEN), 405)

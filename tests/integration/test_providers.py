"""Live-mode sora2 through real upstreams over loopback: kie.ai-shaped and OpenAI-shaped servers, and a
second real vidgate (test mode) behind the ``apimall`` provider. Fallback, circuit breaker, moderation,
refunds, re-hosted results and progress."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import make_settings
from fake_upstreams import FakeKie, FakeOpenAI
from servers import LiveServer

GEN = "/api/v1/videos/generate"
BODY = {"model": "sora2", "prompt": "A red kite over the sea", "aspect_ratio": "landscape", "n_frames": "10"}


@pytest.fixture
def kie() -> Iterator[FakeKie]:
    f = FakeKie().start()
    yield f
    f.stop()


@pytest.fixture
def oai() -> Iterator[FakeOpenAI]:
    f = FakeOpenAI().start()
    yield f
    f.stop()


@pytest.fixture
def front(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start a vidgate whose sora2 goes to the upstreams described by ``toml``."""
    started: list[LiveServer] = []
    monkeypatch.setenv("T_KIE_KEY", "kie-secret")
    monkeypatch.setenv("T_OAI_KEY", "sk-test")

    def start(toml: str, **overrides: Any) -> LiveServer:
        path = tmp_path / f"providers{len(started)}.toml"
        path.write_text(toml)
        base = {
            "providers_file": path, "allow_private_urls": True, "provider_poll_seconds": 0.1,
            "provider_poll_max_seconds": 0.5, "provider_timeout_seconds": 1.5, "provider_failure_threshold": 2,
            "provider_cooldown_seconds": 1.0,
        }
        base.update(overrides)
        srv = LiveServer(make_settings(tmp_path / f"front{len(started)}", None, **base)).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def kie_toml(kie: FakeKie, name: str = "kie") -> str:
    return f'[providers.{name}]\ntype = "kie"\nbase_url = "{kie.url}"\napi_key_env = "T_KIE_KEY"\n'


def oai_toml(oai: FakeOpenAI, name: str = "oai", extra: str = "") -> str:
    return f'[providers.{name}]\ntype = "openai"\nbase_url = "{oai.url}/v1"\napi_key_env = "T_OAI_KEY"\n{extra}'


def routes(*names: str) -> str:
    return "[routes]\nsora2 = [" + ", ".join(f'"{n}"' for n in names) + "]\n"


def balance(srv: LiveServer, key: str) -> int:
    return srv.client(key).get("/api/v1/account/balances").json()["data"]["credits"]


def assert_hosted_mp4(srv: LiveServer, task: dict[str, Any]) -> None:
    assert task["status"] == "completed", task
    assert task["video_url"].startswith(srv.url + "/files/"), task["video_url"]  # our copy, not the upstream's
    assert task["output"]["resultUrls"] == [task["video_url"]]
    r = httpx.get(task["video_url"])
    assert r.status_code == 200 and r.content[4:8] == b"ftyp"


# --- each provider end to end ---


def test_kie_text_to_video_end_to_end(front: Any, kie: FakeKie) -> None:
    srv = front(routes("kie") + kie_toml(kie))
    key = srv.new_key(100, mode="live")
    r = srv.client(key).post(GEN, json=BODY)
    assert r.status_code == 200, r.text
    tid = r.json()["data"]["task_id"]
    assert r.json()["data"]["credits_used"] == 30
    task = srv.wait_task(key, tid, timeout=30)
    assert_hosted_mp4(srv, task)
    assert task["progress"] == 100 and task["credits_refunded"] == 0
    assert balance(srv, key) == 70
    assert len(kie.submits) == 1
    sub = kie.submits[0]
    assert sub["model"] == "sora-2-text-to-video"
    assert sub["input"] == {"prompt": BODY["prompt"], "aspect_ratio": "landscape", "n_frames": "10",
                            "remove_watermark": False}
    assert kie.auth_seen == ["Bearer kie-secret"]
    assert kie.polls[sub["taskId"]] >= 2
    # the upstream job id is kept with the task
    row = _task_row(srv, tid)
    assert row["provider"] == "kie" and row["upstream_job_id"] == sub["taskId"]


def test_kie_image_to_video_uses_the_image_model(front: Any, kie: FakeKie) -> None:
    srv = front(routes("kie") + kie_toml(kie))
    key = srv.new_key(100, mode="live")
    image = f"{kie.url}/files/ref.png"
    r = srv.client(key).post(GEN, json={**BODY, "type": "image-to-video", "image_urls": [image],
                                        "aspect_ratio": "portrait", "n_frames": "15"})
    assert r.status_code == 200, r.text
    assert_hosted_mp4(srv, srv.wait_task(key, r.json()["data"]["task_id"], timeout=30))
    sub = kie.submits[0]
    assert sub["model"] == "sora-2-image-to-video"
    assert sub["input"]["image_urls"] == [image] and sub["input"]["n_frames"] == "15"


def test_openai_shape_end_to_end_honours_poll_after_ms(front: Any, oai: FakeOpenAI) -> None:
    oai.b.polls_before_done = 3
    # our own first poll interval is long: only the openai-poll-after-ms hint (50 ms) keeps it fast
    srv = front(routes("oai") + oai_toml(oai), provider_poll_seconds=2.0, provider_poll_max_seconds=5.0)
    key = srv.new_key(100, mode="live")
    image = f"{oai.url}/ref.png"
    t0 = time.monotonic()
    r = srv.client(key).post(GEN, json={**BODY, "type": "image-to-video", "image_urls": [image],
                                        "aspect_ratio": "portrait"})
    assert r.status_code == 200, r.text
    tid = r.json()["data"]["task_id"]
    task = srv.wait_task(key, tid, timeout=30)
    assert_hosted_mp4(srv, task)
    sub = oai.submits[0]
    assert sub["model"] == "sora-2" and sub["size"] == "720x1280" and sub["seconds"] == "12"
    assert sub["input_reference"] == {"image_url": image}
    assert oai.idempotency_keys == [f"vidgate-{tid}"]
    gaps = [b - a for a, b in zip(oai.poll_times, oai.poll_times[1:], strict=False)]
    assert len(oai.poll_times) == 4 and max(gaps) < 1.5, gaps
    assert time.monotonic() - t0 < 10


def test_progress_follows_the_upstream(front: Any, oai: FakeOpenAI) -> None:
    oai.b.hold.clear()  # in_progress with progress 30, 60, 90...
    srv = front(routes("oai") + oai_toml(oai))
    key = srv.new_key(100, mode="live")
    tid = srv.client(key).post(GEN, json=BODY).json()["data"]["task_id"]
    c = srv.client(key)
    seen = set()
    deadline = time.time() + 15
    while time.time() < deadline:
        data = c.get(f"/api/v1/videos/{tid}").json()["data"]
        seen.add(data["progress"])
        if data["progress"] >= 70:
            break
        time.sleep(0.1)
    oai.b.hold.set()
    assert max(seen) >= 70 and data["status"] == "processing", seen  # 5 + 75 * 90 % = 72
    assert srv.wait_task(key, tid, timeout=30)["progress"] == 100


def test_apimall_fronts_a_second_real_vidgate(front: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upstream = LiveServer(make_settings(tmp_path / "upstream", None, allow_private_urls=True)).start()
    try:
        monkeypatch.setenv("T_MALL_KEY", upstream.test_key)
        toml = routes("mall") + (
            f'[providers.mall]\ntype = "apimall"\nbase_url = "{upstream.url}"\napi_key_env = "T_MALL_KEY"\n'
        )
        srv = front(toml)
        key = srv.new_key(100, mode="live")
        c = srv.client(key)
        up = upstream.client(upstream.test_key)
        up_before = up.get("/api/v1/account/balances").json()["data"]["credits"]

        r = c.post(GEN, json=BODY)
        assert r.status_code == 200, r.text
        tid = r.json()["data"]["task_id"]
        task = srv.wait_task(key, tid, timeout=60)
        assert_hosted_mp4(srv, task)
        row = _task_row(srv, tid)
        up_task = up.get(f"/api/v1/videos/{row['upstream_job_id']}").json()["data"]
        assert up_task["status"] == "completed"
        assert up.get("/api/v1/account/balances").json()["data"]["credits"] == up_before - 30

        # the upstream's moderation answers synchronously: 451 here, nothing charged anywhere
        r = c.post(GEN, json={**BODY, "prompt": "[sim:blocked] nope"})
        assert r.status_code == 451 and r.json()["error"]["code"] == "content_blocked"
        # its asynchronous failure: our task fails with its reason, and is refunded
        r = c.post(GEN, json={**BODY, "prompt": "[sim:fail] please"})
        assert r.status_code == 200
        failed = srv.wait_task(key, r.json()["data"]["task_id"], timeout=60)
        assert failed["status"] == "failed" and "Simulated upstream failure" in failed["error_message"]
        assert failed["credits_refunded"] == 30
        assert balance(srv, key) == 70
        # the same Idempotency-Key replays the upstream create: never two upstream tasks for one of ours
        sent = {**BODY, "type": "text-to-video", "remove_watermark": False}  # what the provider posted
        again = up.post(GEN, json=sent, headers={"Idempotency-Key": f"vidgate-{tid}"})
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["data"]["task_id"] == row["upstream_job_id"]
    finally:
        upstream.stop()


# --- fallback, health, money ---


@pytest.mark.parametrize("failure", ["429", "455", "503-http", "timeout"])
def test_fallback_to_next_provider(front: Any, kie: FakeKie, oai: FakeOpenAI, failure: str) -> None:
    if failure == "timeout":
        kie.b.submit_delay = 3  # > provider_timeout_seconds
    elif failure == "503-http":
        kie.b.submit_status = 503
        kie.b.submit_as_http_status = True
    else:
        kie.b.submit_status = int(failure)
    srv = front(routes("kie", "oai") + kie_toml(kie) + oai_toml(oai))
    key = srv.new_key(100, mode="live")
    r = srv.client(key).post(GEN, json=BODY)
    assert r.status_code == 200, r.text
    assert kie.attempts == 1 and kie.submits == [] and len(oai.submits) == 1
    assert_hosted_mp4(srv, srv.wait_task(key, r.json()["data"]["task_id"], timeout=30))
    assert _task_row(srv, r.json()["data"]["task_id"])["provider"] == "oai"


def test_all_upstreams_down_is_503_and_free(front: Any, kie: FakeKie, oai: FakeOpenAI) -> None:
    kie.b.submit_status = 429
    kie.b.retry_after = "7"
    oai.b.submit_status = 500
    srv = front(routes("kie", "oai") + kie_toml(kie) + oai_toml(oai))
    key = srv.new_key(100, mode="live")
    r = srv.client(key).post(GEN, json=BODY, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "upstream_unavailable"
    assert "nothing was charged" in r.json()["error"]["message"]
    assert "kie-secret" not in r.text and "sk-test" not in r.text
    assert r.headers.get("retry-after") == "7"
    assert balance(srv, key) == 100
    # nothing stored: the same Idempotency-Key works once an upstream is back
    oai.b.submit_status = None
    r = srv.client(key).post(GEN, json=BODY, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 200 and balance(srv, key) == 70


def test_circuit_breaker_opens_then_closes(front: Any, kie: FakeKie, oai: FakeOpenAI) -> None:
    kie.b.submit_status = 500
    srv = front(routes("kie", "oai") + kie_toml(kie) + oai_toml(oai), provider_cooldown_seconds=1.5)
    key = srv.new_key(1000, mode="live")
    c = srv.client(key)
    for _ in range(2):  # threshold 2
        assert c.post(GEN, json=BODY).status_code == 200
    assert kie.attempts == 2 and len(oai.submits) == 2
    assert srv.gateway.router.health()["kie"]["state"] == "open"
    for _ in range(2):  # open: kie is not even asked
        assert c.post(GEN, json=BODY).status_code == 200
    assert kie.attempts == 2 and len(oai.submits) == 4
    time.sleep(1.6)
    kie.b.submit_status = None  # healthy again: the half-open trial succeeds and closes the circuit
    r = c.post(GEN, json=BODY)
    assert r.status_code == 200 and kie.attempts == 3 and len(kie.submits) == 1
    assert srv.gateway.router.health()["kie"]["state"] == "closed"
    assert c.post(GEN, json=BODY).status_code == 200 and len(kie.submits) == 2


def test_circuit_breaker_half_open_failure_reopens(front: Any, kie: FakeKie, oai: FakeOpenAI) -> None:
    kie.b.submit_status = 455
    srv = front(routes("kie", "oai") + kie_toml(kie) + oai_toml(oai), provider_cooldown_seconds=1.0)
    key = srv.new_key(1000, mode="live")
    c = srv.client(key)
    for _ in range(2):
        c.post(GEN, json=BODY)
    time.sleep(1.1)
    assert c.post(GEN, json=BODY).status_code == 200  # trial to kie fails → oai
    assert kie.attempts == 3 and srv.gateway.router.health()["kie"]["state"] == "open"
    assert c.post(GEN, json=BODY).status_code == 200 and kie.attempts == 3


def test_moderation_sync_451_is_free(front: Any, kie: FakeKie, oai: FakeOpenAI) -> None:
    kie.b.submit_status = 422
    kie.b.submit_message = "Your prompt was flagged as violating our content policy"
    srv = front(routes("kie", "oai") + kie_toml(kie) + oai_toml(oai))
    key = srv.new_key(100, mode="live")
    r = srv.client(key).post(GEN, json=BODY)
    assert r.status_code == 451 and r.json()["error"]["code"] == "content_blocked", r.text
    assert oai.attempts == 0  # no shopping around a moderation refusal
    assert balance(srv, key) == 100
    # OpenAI's 400 moderation_blocked too
    oai.b.submit_status = 400
    oai.b.submit_message = "Your request was blocked by our moderation system."
    srv2 = front(routes("oai") + oai_toml(oai))
    key2 = srv2.new_key(100, mode="live")
    r = srv2.client(key2).post(GEN, json=BODY)
    assert r.status_code == 451, r.text
    assert balance(srv2, key2) == 100


def test_moderation_async_fails_and_refunds(front: Any, oai: FakeOpenAI) -> None:
    oai.b.fail_message = "The generated video was blocked by moderation"
    srv = front(routes("oai") + oai_toml(oai))
    key = srv.new_key(100, mode="live")
    tid = srv.client(key).post(GEN, json=BODY).json()["data"]["task_id"]
    task = srv.wait_task(key, tid, timeout=30)
    assert task["status"] == "failed" and task["error_message"].startswith("Blocked by the upstream's content")
    assert task["credits_refunded"] == 30 and balance(srv, key) == 100


def test_upstream_failure_fails_task_with_reason_and_refund(front: Any, kie: FakeKie) -> None:
    kie.b.fail_message = "Internal generation error, please retry"
    srv = front(routes("kie") + kie_toml(kie))
    key = srv.new_key(100, mode="live")
    tid = srv.client(key).post(GEN, json=BODY).json()["data"]["task_id"]
    task = srv.wait_task(key, tid, timeout=30)
    assert task["status"] == "failed"
    assert "Internal generation error" in task["error_message"] and "kie" in task["error_message"]
    assert task["credits_refunded"] == 30 and balance(srv, key) == 100


def test_request_no_provider_can_express_is_400(front: Any, oai: FakeOpenAI) -> None:
    srv = front(routes("oai") + oai_toml(oai, extra="images = false\n"))
    key = srv.new_key(100, mode="live")
    r = srv.client(key).post(GEN, json={**BODY, "type": "image-to-video", "image_urls": [f"{oai.url}/a.png"]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "image_urls", r.text
    assert oai.attempts == 0 and balance(srv, key) == 100


def test_insufficient_credits_checked_before_submitting(front: Any, kie: FakeKie) -> None:
    srv = front(routes("kie") + kie_toml(kie))
    key = srv.new_key(10, mode="live")
    r = srv.client(key).post(GEN, json=BODY)
    assert r.status_code == 402 and kie.attempts == 0


def test_test_mode_keys_still_use_the_simulator(front: Any, kie: FakeKie) -> None:
    srv = front(routes("kie") + kie_toml(kie))
    key = srv.new_key(100, mode="test")
    tid = srv.client(key).post(GEN, json=BODY).json()["data"]["task_id"]
    assert_hosted_mp4(srv, srv.wait_task(key, tid, timeout=60))
    assert kie.attempts == 0


def test_live_key_without_providers_file_is_503(server_factory: Any) -> None:
    srv = server_factory()
    key = srv.new_key(100, mode="live")
    r = srv.client(key).post(GEN, json=BODY)
    assert r.status_code == 503 and r.json()["error"]["code"] == "no_upstream_configured"


def _task_row(srv: LiveServer, task_id: str) -> dict[str, Any]:
    import asyncio

    from vidgate.store import tasks as tasks_store

    async def read() -> dict[str, Any]:
        from vidgate.store.db import Database

        db = Database(srv.settings.resolved_database_url)
        try:
            async with db.read() as conn:
                row = await tasks_store.get_task(conn, task_id)
        finally:
            await db.dispose()
        assert row is not None
        return row

    return asyncio.run(read())


def test_remove_watermark_runs_our_engine_on_the_upstream_video(front: Any, kie: FakeKie) -> None:
    srv = front(routes("kie") + kie_toml(kie))
    key = srv.new_key(100, mode="live")
    r = srv.client(key).post(GEN, json={**BODY, "remove_watermark": True})
    assert r.status_code == 200, r.text
    task = srv.wait_task(key, r.json()["data"]["task_id"], timeout=120)
    assert_hosted_mp4(srv, task)
    assert "watermark_found" in task  # the engine's report on the downloaded video
    assert kie.submits[0]["input"]["remove_watermark"] is False  # watermark = "local": not asked upstream

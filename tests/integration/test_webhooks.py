"""callBackUrl deliveries and account webhooks over real loopback HTTP, on SQLite and PostgreSQL.

The receiver is a real HTTP server on 127.0.0.1; the tests lift the SSRF guard explicitly
(``allow_private_urls=True``) and shrink the retry schedule through settings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from servers import LiveServer
from vidgate.webhooks import WebhookVerificationError, verify
from webhook_receiver import Received, Receiver

GEN = "/api/v1/videos/generate"
FAST = {
    "allow_private_urls": True,
    "webhook_retry_schedule": [0, 0.3, 0.3],
    "webhook_timeout_seconds": 1.5,
    "webhook_poll_seconds": 0.2,
}


def script(req: Received, n: int) -> tuple[int, dict[str, str], float]:
    path = req.path
    if path == "/flaky":
        return (500 if n < 2 else 200), {}, 0
    if path == "/ra":
        return (429, {"Retry-After": "2"}, 0) if n == 0 else (200, {}, 0)
    if path == "/gone" or path == "/ep-gone":
        return 410, {}, 0
    if path == "/slow":
        return 200, {}, (4 if n == 0 else 0)
    if path == "/redirect":
        return 302, {"Location": "/redirected"}, 0
    if path == "/always-500":
        return 500, {}, 0
    return 200, {}, 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(script=script).start()
    yield r
    r.stop()


def create(srv: LiveServer, key: str, callback: str | None = None, prompt: str = "a kite") -> str:
    body: dict[str, Any] = {"model": "sora2", "prompt": prompt}
    if callback:
        body["callBackUrl"] = callback
    r = srv.client(key).post(GEN, json=body)
    assert r.status_code == 200, r.text
    return r.json()["data"]["task_id"]


def deliveries(srv: LiveServer, key: str, task_id: str) -> list[dict[str, Any]]:
    r = srv.client(key).get(f"/api/v1/videos/{task_id}/callbacks")
    assert r.status_code == 200, r.text
    return r.json()["data"]["deliveries"]


def settle(srv: LiveServer, key: str, task_ids: list[str], timeout: float = 60) -> dict[str, list[dict[str, Any]]]:
    """Wait until every task finished and none of its deliveries is still pending or in flight."""
    deadline = time.time() + timeout
    while True:
        for t in task_ids:
            srv.wait_task(key, t, timeout=timeout)
        out = {t: deliveries(srv, key, t) for t in task_ids}
        busy = [d for ds in out.values() for d in ds if d["status"] in ("pending", "delivering")]
        if not busy:
            return out
        assert time.time() < deadline, busy
        time.sleep(0.2)


def secret_of(srv: LiveServer, key: str) -> str:
    r = srv.client(key).get("/api/v1/webhooks/secret")
    assert r.status_code == 200, r.text
    return r.json()["data"]["secret"]


def test_callbacks_signed_retried_and_recorded(server_factory: Any, receiver: Receiver) -> None:
    srv: LiveServer = server_factory(**FAST)
    key = srv.test_key
    secret = secret_of(srv, key)
    paths = ["/ok", "/flaky", "/ra", "/gone", "/slow", "/redirect", "/always-500"]
    ids = {p: create(srv, key, receiver.url(p)) for p in paths}
    ids["/failed"] = create(srv, key, receiver.url("/failed"), prompt="[sim:fail] broken")
    logs = settle(srv, key, list(ids.values()))
    by_path = {p: logs[t] for p, t in ids.items()}
    for ds in by_path.values():
        assert len(ds) == 1 and ds[0]["source"] == "callBackUrl"

    # every request carries a valid Standard Webhooks signature under the account secret
    for req in receiver.received:
        assert verify(req.body, req.headers, secret)
        assert req.headers["content-type"] == "application/json"
    # a webhook-id is stable across the retries of one delivery
    for p in paths:
        assert len({r.headers["webhook-id"] for r in receiver.on(p)}) == 1

    # the body is GET /api/v1/videos/{id}, envelope and all
    ok_req = receiver.on("/ok")[0]
    event = ok_req.json
    assert ok_req.headers["webhook-event"] == "job.completed"
    assert ok_req.headers["webhook-id"] == by_path["/ok"][0]["id"]
    got = srv.client(key).get(f"/api/v1/videos/{ids['/ok']}").json()
    assert event["success"] is True and event["request_id"].startswith("req_")
    for k in ("task_id", "model", "status", "progress", "error_message", "credits_used", "completed_at"):
        assert event["data"][k] == got["data"][k]
    assert event["data"]["status"] == "completed"
    path = event["data"]["video_url"].split("/files/", 1)[1]
    video = srv.client().get("/files/" + path)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert by_path["/ok"][0]["status"] == "delivered" and by_path["/ok"][0]["attempts"] == 1

    failed = receiver.on("/failed")[0]
    assert failed.headers["webhook-event"] == "job.failed"
    assert failed.json["data"]["status"] == "failed" and "Simulated" in failed.json["data"]["error_message"]
    assert failed.json["data"]["credits_refunded"] == 30

    # fails twice, then 2xx: three attempts, the log shows each
    flaky = by_path["/flaky"][0]
    assert flaky["status"] == "delivered" and flaky["attempts"] == 3
    assert [a["status_code"] for a in flaky["attempt_log"]] == [500, 500, 200]
    assert [a["outcome"] for a in flaky["attempt_log"]] == ["failed", "failed", "delivered"]

    # Retry-After: 2 beats the 0.3 s schedule
    ra = receiver.on("/ra")
    assert len(ra) == 2 and ra[1].at - ra[0].at >= 1.8
    assert by_path["/ra"][0]["status"] == "delivered"

    # 410: one attempt, then never again
    assert len(receiver.on("/gone")) == 1
    assert by_path["/gone"][0]["status"] == "gone" and by_path["/gone"][0]["attempts"] == 1

    # a receiver slower than webhook_timeout_seconds fails that attempt; the retry succeeds
    slow = by_path["/slow"][0]
    assert slow["status"] == "delivered" and slow["attempts"] == 2
    assert "timed out" in slow["attempt_log"][0]["error"] and slow["attempt_log"][0]["status_code"] is None

    # 3xx is a failure and is never followed; the schedule (3 attempts) runs out
    assert len(receiver.on("/redirect")) == 3 and receiver.on("/redirected") == []
    red = by_path["/redirect"][0]
    assert red["status"] == "failed" and red["last_status_code"] == 302 and "redirect" in red["last_error"]
    assert by_path["/always-500"][0]["status"] == "failed" and len(receiver.on("/always-500")) == 3

    # the same log through the deliveries endpoint; other accounts see nothing
    r = srv.client(key).get("/api/v1/webhooks/deliveries", params={"task_id": ids["/flaky"]})
    assert [d["id"] for d in r.json()["data"]["deliveries"]] == [flaky["id"]]
    other = srv.new_key()
    assert srv.client(other).get(f"/api/v1/videos/{ids['/ok']}/callbacks").status_code == 404
    assert srv.client(other).get("/api/v1/webhooks/deliveries").json()["data"]["deliveries"] == []


def test_webhook_endpoints_crud_stats_and_rotation(server_factory: Any, receiver: Receiver) -> None:
    srv: LiveServer = server_factory(**FAST)
    acct = srv.new_account()
    key = acct["api_key"]
    c = srv.client(key)
    s1 = secret_of(srv, key)
    assert s1.startswith("whsec_") and secret_of(srv, key) == s1

    own_secret = "whsec_" + "A" * 40
    e_all = c.post("/api/v1/webhooks", json={"url": receiver.url("/ep-all")}).json()["data"]
    assert e_all["events"] == ["job.completed", "job.failed"] and e_all["total_sent"] == 0
    e_done = c.post(
        "/api/v1/webhooks",
        json={"url": receiver.url("/ep-done"), "events": ["job.completed"], "secret_key": own_secret},
    ).json()["data"]
    assert e_done["has_secret_key"] is True
    e_gone = c.post("/api/v1/webhooks", json={"url": receiver.url("/ep-gone")}).json()["data"]
    other_key = c.post("/api/v1/keys", json={"title": "other"}).json()["data"]["id"]
    e_other = c.post(
        "/api/v1/webhooks", json={"url": receiver.url("/ep-other-key"), "api_key_id": other_key}
    ).json()["data"]
    assert e_other["api_key_id"] == other_key

    # validation names the field
    for body, field in [
        ({"url": receiver.url("/x"), "events": ["job.bogus"]}, "events"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": receiver.url("/x"), "api_key_id": srv.gateway and "key_nope"}, "api_key_id"),
    ]:
        r = c.post("/api/v1/webhooks", json=body)
        assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text

    # one after the other: the 410 that disables /ep-gone must have come back before the second
    # event is sent (two events in flight at once may both reach it, as with any webhook sender)
    t1 = create(srv, key)
    settle(srv, key, [t1])
    t2 = create(srv, key, prompt="[sim:fail] nope")
    settle(srv, key, [t2])

    all_reqs = receiver.on("/ep-all")
    assert sorted(r.headers["webhook-event"] for r in all_reqs) == ["job.completed", "job.failed"]
    for r in all_reqs:
        assert verify(r.body, r.headers, s1)
    done_reqs = receiver.on("/ep-done")
    assert len(done_reqs) == 1 and done_reqs[0].json["data"]["task_id"] == t1
    assert verify(done_reqs[0].body, done_reqs[0].headers, own_secret)
    with pytest.raises(WebhookVerificationError):
        verify(done_reqs[0].body, done_reqs[0].headers, s1)
    assert len(receiver.on("/ep-gone")) == 1  # 410 on the first event disabled it: the second never went
    assert receiver.on("/ep-other-key") == []

    listed = {w["id"]: w for w in c.get("/api/v1/webhooks").json()["data"]["webhooks"]}
    assert listed[e_all["id"]]["total_sent"] == 2 and listed[e_all["id"]]["total_failed"] == 0
    assert listed[e_all["id"]]["last_sent_at"] and listed[e_all["id"]]["last_error"] is None
    assert listed[e_done["id"]]["total_sent"] == 1
    gone = listed[e_gone["id"]]
    assert gone["status"] == "disabled" and gone["total_failed"] == 1 and "410" in gone["last_error"]
    assert listed[e_other["id"]]["total_sent"] == 0

    # rotation: both signatures for the grace period, either secret verifies
    rot = c.post("/api/v1/webhooks/secret/rotate", json={"grace_hours": 1}).json()["data"]
    s2 = rot["secret"]
    assert s2 != s1 and rot["previous_valid_until"] and len(rot["previous"]) == 1
    t3 = create(srv, key, receiver.url("/rotated"))
    settle(srv, key, [t3])
    req = receiver.on("/rotated")[0]
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    assert verify(req.body, req.headers, s1) and verify(req.body, req.headers, s2)
    # a rotation with no grace period drops the old secret at once
    s3 = c.post("/api/v1/webhooks/secret/rotate", json={"grace_hours": 0}).json()["data"]["secret"]
    t4 = create(srv, key, receiver.url("/rotated-again"))
    settle(srv, key, [t4])
    req = receiver.on("/rotated-again")[0]
    assert len(req.headers["webhook-signature"].split(" ")) == 2  # s3, and s1 still inside its 1 h grace
    assert verify(req.body, req.headers, s3) and verify(req.body, req.headers, s1)
    with pytest.raises(WebhookVerificationError):
        verify(req.body, req.headers, s2)

    # delete; a second delete and another account's delete are 404
    r = c.delete(f"/api/v1/webhooks/{e_all['id']}")
    assert r.status_code == 200 and r.json()["data"]["deleted"] is True
    assert c.delete(f"/api/v1/webhooks/{e_all['id']}").status_code == 404
    assert srv.client(srv.test_key).delete(f"/api/v1/webhooks/{e_done['id']}").status_code == 404
    assert e_all["id"] not in {w["id"] for w in c.get("/api/v1/webhooks").json()["data"]["webhooks"]}
    n_all = len(receiver.on("/ep-all"))
    settle(srv, key, [create(srv, key)])
    assert len(receiver.on("/ep-all")) == n_all

"""SIGKILL the server while a callback is in flight, start it again: the callback is delivered again with the
same webhook-id, so a receiver that de-duplicates on it processes the event exactly once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from test_restart import cli, start_server

from servers import free_port
from vidgate.webhooks import verify
from webhook_receiver import Received, Receiver

GEN = "/api/v1/videos/generate"


@pytest.mark.slow
def test_sigkill_mid_delivery_then_restart_delivers_once(tmp_path: Path, database_url: str | None) -> None:
    def script(req: Received, n: int) -> tuple[int, dict[str, str], float]:
        # the first request is held open (the receiver has it, the sender never hears back)
        return 200, {}, (float("inf") if n == 0 else 0)

    receiver = Receiver(script=script).start()
    env = {
        **os.environ,
        "VIDGATE_JOB_LEASE_SECONDS": "3",
        "VIDGATE_JOB_POLL_SECONDS": "0.2",
        "VIDGATE_ALLOW_PRIVATE_URLS": "1",
        "VIDGATE_WEBHOOK_TIMEOUT_SECONDS": "3",
        "VIDGATE_WEBHOOK_RETRY_SCHEDULE": "0,0.5,0.5,0.5,0.5",
        "VIDGATE_WEBHOOK_POLL_SECONDS": "0.2",
    }
    if database_url:
        env["VIDGATE_DATABASE_URL"] = database_url
    data = tmp_path / "data"
    key = cli("keys", "create", "--credits", "300", "--test", "--data-dir", str(data), env=env).stdout
    key = key.strip().splitlines()[-1]
    h = {"Authorization": f"Bearer {key}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(data, port, env)
    try:
        r = httpx.post(base + GEN, json={"model": "sora2", "prompt": "restart", "callBackUrl": receiver.url()},
                       headers=h)
        assert r.status_code == 200, r.text
        task_id = r.json()["data"]["task_id"]
        receiver.wait_for(lambda: len(receiver.received) >= 1, timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    receiver.release.set()  # the receiver processes the held request; nobody hears its answer

    proc = start_server(data, port, env)
    try:
        receiver.wait_for(lambda: len(receiver.received) >= 2, timeout=60)
        deadline = time.time() + 30
        while True:
            ds = httpx.get(f"{base}/api/v1/videos/{task_id}/callbacks", headers=h).json()["data"]["deliveries"]
            if ds and ds[0]["status"] == "delivered":
                break
            assert time.time() < deadline, ds
            time.sleep(0.2)
        secret = httpx.get(f"{base}/api/v1/webhooks/secret", headers=h).json()["data"]["secret"]
        time.sleep(1.5)  # nothing more arrives
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        receiver.stop()

    assert len(ds) == 1
    ids = {req.headers["webhook-id"] for req in receiver.received}
    assert ids == {ds[0]["id"]}  # one stable id across the kill
    assert receiver.processed_ids == [ds[0]["id"]]  # processed exactly once
    assert len(receiver.received) == 2
    for req in receiver.received:
        event = verify(req.body, req.headers, secret)
        assert event["data"]["task_id"] == task_id and event["data"]["status"] == "completed"

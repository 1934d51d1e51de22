"""SIGKILL vidgate while it polls an upstream job, start it again: polling resumes on the same upstream job,
nothing is submitted twice, the result is re-hosted and charged once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from test_restart import GEN, cli, start_server

from fake_upstreams import FakeKie
from servers import free_port


@pytest.mark.slow
def test_sigkill_mid_poll_resumes_without_resubmitting(tmp_path: Path, database_url: str | None) -> None:
    kie = FakeKie(api_key="kie-restart-secret").start()
    try:
        kie.b.hold.clear()  # jobs stay "generating" until the test says so
        providers = tmp_path / "providers.toml"
        providers.write_text(
            '[routes]\nsora2 = ["kie"]\n'
            f'[providers.kie]\ntype = "kie"\nbase_url = "{kie.url}"\napi_key_env = "T_KIE_RESTART_KEY"\n'
        )
        env = {
            **os.environ,
            "VIDGATE_JOB_LEASE_SECONDS": "3",
            "VIDGATE_JOB_POLL_SECONDS": "0.2",
            "VIDGATE_PROVIDERS_FILE": str(providers),
            "VIDGATE_ALLOW_PRIVATE_URLS": "1",
            "VIDGATE_PROVIDER_POLL_SECONDS": "0.2",
            "VIDGATE_PROVIDER_POLL_MAX_SECONDS": "0.5",
            "T_KIE_RESTART_KEY": "kie-restart-secret",
        }
        if database_url:
            env["VIDGATE_DATABASE_URL"] = database_url
        data = tmp_path / "data"
        out = cli("keys", "create", "--credits", "300", "--data-dir", str(data), env=env).stdout
        key = out.strip().splitlines()[-1]
        assert key.startswith("vg_live_")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        h = {"Authorization": f"Bearer {key}"}
        proc = start_server(data, port, env)
        ids = []
        try:
            for i in range(2):
                r = httpx.post(base + GEN, json={"model": "sora2", "prompt": f"restart {i}"}, headers=h, timeout=30)
                assert r.status_code == 200, r.text
                ids.append(r.json()["data"]["task_id"])
            deadline = time.time() + 30
            while time.time() < deadline and not (len(kie.polls) == 2 and min(kie.polls.values()) >= 2):
                time.sleep(0.1)
            assert len(kie.polls) == 2 and min(kie.polls.values()) >= 2, kie.polls
            states = [httpx.get(f"{base}/api/v1/videos/{t}", headers=h).json()["data"]["status"] for t in ids]
            assert states == ["processing", "processing"]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        polls_before = dict(kie.polls)
        assert kie.attempts == 2

        proc = start_server(data, port, env)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and not all(kie.polls[j] > polls_before[j] for j in polls_before):
                time.sleep(0.1)
            assert all(kie.polls[j] > polls_before[j] for j in polls_before), (polls_before, kie.polls)
            kie.b.hold.set()
            deadline = time.time() + 60
            while True:
                tasks = [httpx.get(f"{base}/api/v1/videos/{t}", headers=h).json()["data"] for t in ids]
                if all(t["status"] in ("completed", "failed") for t in tasks):
                    break
                assert time.time() < deadline, tasks
                time.sleep(0.2)
            for t in tasks:
                assert t["status"] == "completed", t
                assert t["video_url"].startswith(base + "/files/")
                video = httpx.get(t["video_url"])
                assert video.status_code == 200 and video.content[4:8] == b"ftyp"
            credits = httpx.get(f"{base}/api/v1/account/balances", headers=h).json()["data"]["credits"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        assert credits == 300 - 60
        # never paid twice: one upstream submit per task, the same jobs polled before and after the kill
        assert kie.attempts == 2 and len(kie.submits) == 2
        assert set(kie.polls) == set(polls_before)
    finally:
        kie.stop()

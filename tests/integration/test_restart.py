"""SIGKILL the server mid-task, start it again: no task stuck, no credit lost or charged twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from servers import free_port

GEN = "/api/v1/videos/generate"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vidgate", *args], capture_output=True, text=True, env=env, timeout=120, check=True
    )


def start_server(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidgate", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


@pytest.mark.slow
def test_sigkill_mid_task_then_restart(tmp_path: Path, database_url: str | None) -> None:
    env = {**os.environ, "VIDGATE_JOB_LEASE_SECONDS": "3", "VIDGATE_JOB_POLL_SECONDS": "0.2"}
    if database_url:
        env["VIDGATE_DATABASE_URL"] = database_url
    data = tmp_path / "data"
    key = cli("keys", "create", "--credits", "300", "--test", "--data-dir", str(data), env=env).stdout.strip()
    key = key.splitlines()[-1]
    assert key.startswith("vg_test_")

    port = free_port()
    proc = start_server(data, port, env)
    base = f"http://127.0.0.1:{port}"
    h = {"Authorization": f"Bearer {key}"}
    ids = []
    try:
        for i in range(3):
            r = httpx.post(base + GEN, json={"model": "sora2", "prompt": f"[sim:slow] restart {i}"}, headers=h)
            assert r.status_code == 200, r.text
            ids.append(r.json()["data"]["task_id"])
        deadline = time.time() + 30
        while time.time() < deadline:
            states = [httpx.get(f"{base}/api/v1/videos/{t}", headers=h).json()["data"]["status"] for t in ids]
            if "processing" in states:
                break
            time.sleep(0.1)
        assert "processing" in states
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    proc = start_server(data, port, env)
    try:
        deadline = time.time() + 120
        while True:
            tasks = [httpx.get(f"{base}/api/v1/videos/{t}", headers=h).json()["data"] for t in ids]
            if all(t["status"] in ("completed", "failed") for t in tasks):
                break
            assert time.time() < deadline, tasks
            time.sleep(0.3)
        credits = httpx.get(f"{base}/api/v1/account/balances", headers=h).json()["data"]["credits"]
        for t in tasks:
            if t["status"] == "completed":
                video = httpx.get(t["video_url"])
                assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    charged = sum(t["credits_used"] - t["credits_refunded"] for t in tasks)
    assert credits == 300 - charged
    # resumed, not failed: the slow tasks are re-run from their last saved step
    assert all(t["status"] == "completed" for t in tasks), tasks

"""The CLI as a user runs it: first-start bootstrap, keys create, migrate."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from servers import free_port


def _serve_and_read_banner(data: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidgate", "serve", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = []
    deadline = time.time() + 60
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "vidgate serving on" in line:
            break
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, "".join(lines)


def test_first_start_prints_admin_token_key_and_curl(tmp_path: Path) -> None:
    data, port = tmp_path / "d", free_port()
    proc, banner = _serve_and_read_banner(data, port)
    try:
        key = re.search(r"test API key:\s+(vg_test_\S+)", banner).group(1)
        admin = re.search(r"admin token:\s+(vg_admin_\S+)", banner).group(1)
        assert f"curl -s http://127.0.0.1:{port}/api/v1/videos/generate" in banner and key in banner
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/account/balances", headers={"Authorization": f"Bearer {key}"})
        assert r.json()["data"]["credits"] == 1000
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/admin/accounts", json={"name": "x", "credits": 5},
                       headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 200 and r.json()["data"]["api_key"].startswith("vg_live_")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    # second start: nothing new is created or printed
    proc, banner = _serve_and_read_banner(data, port)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert "test API key" not in banner


def test_keys_create_and_migrate(tmp_path: Path) -> None:
    data = tmp_path / "d"
    out = subprocess.run([sys.executable, "-m", "vidgate", "migrate", "--data-dir", str(data)],
                         capture_output=True, text=True, check=True).stdout
    assert "latest schema" in out
    out = subprocess.run([sys.executable, "-m", "vidgate", "keys", "create", "--credits", "7", "--data-dir", str(data)],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1].startswith("vg_live_")
    bad = subprocess.run([sys.executable, "-m", "vidgate", "keys", "create", "--credits", "-1", "--data-dir",
                          str(data)], capture_output=True, text=True)
    assert bad.returncode != 0


def test_configuration_errors_are_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "VIDGATE_PORT": "abc"}
    r = subprocess.run([sys.executable, "-m", "vidgate", "migrate", "--data-dir", str(tmp_path)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "VIDGATE_PORT" in r.stderr and "Traceback" not in r.stdout + r.stderr
    cfg = tmp_path / "providers.toml"
    cfg.write_text('[providers.k]\ntype = "kie"\napi_key_env = "VIDGATE_TEST_UNSET_KEY"\n[routes]\nsora2 = ["k"]\n')
    env = {k: v for k, v in os.environ.items() if k != "VIDGATE_TEST_UNSET_KEY"}
    env["VIDGATE_PROVIDERS_FILE"] = str(cfg)
    r = subprocess.run([sys.executable, "-m", "vidgate", "serve", "--data-dir", str(tmp_path), "--port", "1"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "VIDGATE_TEST_UNSET_KEY is not set" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_api_only_server_with_separate_worker(tmp_path: Path) -> None:
    """`serve --no-workers` takes tasks; a `vidgate worker` process runs them."""
    data, port = tmp_path / "d", free_port()
    key = subprocess.run([sys.executable, "-m", "vidgate", "keys", "create", "--credits", "60", "--test",
                          "--data-dir", str(data)], capture_output=True, text=True, check=True).stdout.split()[-1]
    api = subprocess.Popen([sys.executable, "-m", "vidgate", "serve", "--no-workers", "--port", str(port),
                            "--data-dir", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        base, h = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
        for _ in range(300):
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        tid = httpx.post(base + "/api/v1/videos/generate", json={"model": "sora2", "prompt": "split"},
                         headers=h).json()["data"]["task_id"]
        time.sleep(1.5)
        assert httpx.get(f"{base}/api/v1/videos/{tid}", headers=h).json()["data"]["status"] == "pending"
        worker = subprocess.Popen([sys.executable, "-m", "vidgate", "worker", "--data-dir", str(data)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while (status := httpx.get(f"{base}/api/v1/videos/{tid}", headers=h).json()["data"]["status"]) != "completed":
            assert time.time() < deadline and status != "failed", status
            time.sleep(0.2)
    finally:
        for p in (api, worker):
            if p is not None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)

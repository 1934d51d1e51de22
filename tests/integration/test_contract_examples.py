"""The Sora2 page's own cURL and JavaScript examples, run unchanged but for host and key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from servers import LiveServer, skip_or_fail

EXAMPLES = Path(__file__).parent.parent / "contract_examples"
PAGE_HOST = "https://gateway.apimall.ai"


def _localise(text: str, srv: LiveServer, key: str) -> str:
    return text.replace(PAGE_HOST, srv.url).replace("YOUR_API_KEY", key)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_curl_examples(server: LiveServer) -> None:
    if not shutil.which("curl"):
        skip_or_fail("curl not found; apt-get install curl")
    script = _localise((EXAMPLES / "sora2_create.curl.sh").read_text(), server, server.test_key)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True).stdout
    created = json.loads(out)
    assert created["success"] is True and created["data"]["model"] == "sora2"
    assert created["data"]["credits_used"] == 30 and created["data"]["remaining_credits"] == 970
    tid = created["data"]["task_id"]
    server.wait_task(server.test_key, tid)
    query = _localise((EXAMPLES / "sora2_query.curl.sh").read_text(), server, server.test_key)
    query = query.replace("vid_01HQ9MA3M6V6HC6S5R9V7N4Q4D", tid)
    got = json.loads(
        subprocess.run(["bash", "-c", query], capture_output=True, text=True, timeout=60, check=True).stdout
    )
    assert got["data"]["status"] == "completed" and got["data"]["video_url"]


def _run_js_example(srv: LiveServer, tmp_path: Path, **replacements: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if not node:
        skip_or_fail("node (>= 18) not found; apt-get install nodejs")
    script = (EXAMPLES / "sora2_example.js").read_text().replace(PAGE_HOST, srv.url)
    for old, new in replacements.items():
        script = script.replace(old, new)
    path = tmp_path / "example.js"
    path.write_text(script)
    env = {**os.environ, "APIMALL_API_KEY": srv.test_key}
    return subprocess.run([node, str(path)], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_javascript_example(server: LiveServer, tmp_path: Path) -> None:
    # print the final task as JSON rather than util.inspect, so the test can read it back
    proc = _run_js_example(server, tmp_path, **{"console.log(result);": "console.log(JSON.stringify(result));"})
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    result = json.loads(proc.stdout)
    assert result["success"] is True and result["data"]["status"] == "completed"
    assert result["data"]["video_url"].startswith(server.url + "/files/")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_javascript_example_reports_failmsg(server: LiveServer, tmp_path: Path) -> None:
    proc = _run_js_example(server, tmp_path, **{"A cinematic drone shot": "[sim:fail] A cinematic drone shot"})
    # the page's script catches and prints the error: our failMsg reaches it
    assert "Simulated upstream failure" in proc.stderr, proc.stderr

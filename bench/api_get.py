"""Benchmark: GET /api/v1/videos/{task_id} vs a bare FastAPI endpoint returning a JSON body of the same size.

Both are served by one uvicorn worker on loopback, measured side by side in the same run with wrk -c50.
Then a mixed run checks that creates stay correct under the same load (every create answered 200,
ledger balance equals its re-derivation).

    python bench/api_get.py [--duration 10] [--connections 50]

Needs `wrk` (Debian package). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


PIN_SERVER: list[str] = []
PIN_CLIENT: list[str] = []


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str], script: str | None = None) -> dict:
    cmd = [*PIN_CLIENT, "wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "raw": out}


BARE_APP = """
from fastapi import FastAPI
from fastapi.responses import JSONResponse
import json, sys
BODY = json.loads(open(sys.argv[1]).read())
app = FastAPI()
@app.get("/bare")
async def bare() -> JSONResponse:
    return JSONResponse(BODY)
if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""

THREADS = 2

CREATE_LUA = """
wrk.method = "POST"
wrk.body = '{"model":"sora2","prompt":"[sim:fail] load"}'
wrk.headers["Content-Type"] = "application/json"
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--pin", action="store_true",
                    help="pin the servers to the last CPU and wrk to the others (taskset), so the load "
                         "generator does not steal the server's core")
    args = ap.parse_args()
    global THREADS
    THREADS = args.threads
    if args.pin:
        ncpu = os.cpu_count() or 2
        PIN_SERVER[:] = ["taskset", "-c", str(ncpu - 1)]
        PIN_CLIENT[:] = ["taskset", "-c", f"0-{ncpu - 2}" if ncpu > 2 else "0"]
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="vidgate-bench-"))
    port_v, port_b = free_port(), free_port()
    env = {**os.environ, "VIDGATE_RATE_LIMIT_RPM": "100000000", "VIDGATE_MAX_CONCURRENT_TASKS": "1000000",
           "VIDGATE_BOOTSTRAP_CREDITS": "100000000", "VIDGATE_LOG_LEVEL": "warning"}
    key = subprocess.run(
        [sys.executable, "-m", "vidgate", "keys", "create", "--credits", "100000000", "--test",
         "--data-dir", str(tmp)], capture_output=True, text=True, check=True, env=env,
    ).stdout.strip().splitlines()[-1]
    vid = subprocess.Popen([*PIN_SERVER, sys.executable, "-m", "vidgate", "serve", "--port", str(port_v),
                            "--data-dir", str(tmp)],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [vid]
    try:
        base = f"http://127.0.0.1:{port_v}"
        wait_up(base + "/healthz")
        h = {"Authorization": f"Bearer {key}"}
        tid = httpx.post(base + "/api/v1/videos/generate", headers=h,
                         json={"model": "sora2", "prompt": "benchmark"}).json()["data"]["task_id"]
        for _ in range(600):
            body = httpx.get(f"{base}/api/v1/videos/{tid}", headers=h).json()
            if body["data"]["status"] == "completed":
                break
            time.sleep(0.2)
        (tmp / "body.json").write_text(json.dumps(body))
        (tmp / "bare.py").write_text(textwrap.dedent(BARE_APP))
        bare = subprocess.Popen([*PIN_SERVER, sys.executable, str(tmp / "bare.py"), str(tmp / "body.json"),
                                 str(port_b)])
        procs.append(bare)
        wait_up(f"http://127.0.0.1:{port_b}/bare")

        size = len(json.dumps(body))
        rows = []
        # warm up both, then measure side by side
        wrk(f"http://127.0.0.1:{port_b}/bare", 2, args.connections, {})
        wrk(f"{base}/api/v1/videos/{tid}", 2, args.connections, h)
        b = wrk(f"http://127.0.0.1:{port_b}/bare", args.duration, args.connections, {})
        v = wrk(f"{base}/api/v1/videos/{tid}", args.duration, args.connections, h)
        rows.append(("bare FastAPI JSON", b))
        rows.append(("vidgate GET /api/v1/videos/{id}", v))

        (tmp / "create.lua").write_text(CREATE_LUA)
        before = httpx.get(base + "/api/v1/account/balances", headers=h).json()["data"]["credits"]
        c = wrk(base + "/api/v1/videos/generate", args.duration, args.connections, h, str(tmp / "create.lua"))
        rows.append(("vidgate POST generate ([sim:fail])", c))

        pinned = " (servers pinned to one CPU, wrk to the other)" if args.pin else ""
        print(f"\nresponse body: {size} bytes; wrk -t{THREADS} -c{args.connections} -d{args.duration}s; "
              f"one uvicorn worker each{pinned}")
        print("\n| endpoint | req/s | p99 latency (ms) | non-2xx |")
        print("|---|---|---|---|")
        for name, r in rows:
            print(f"| {name} | {r['rps']:.0f} | {r['p99_ms']:.2f} | {r['non2xx']} |")
        ratio = v["rps"] / b["rps"]
        print(f"\nvidgate / bare = {ratio:.2f} (target >= 0.5); vidgate p99 {v['p99_ms']:.2f} ms (target < 20 ms)")

        # correctness after the create load: the ledger re-derives the balance exactly
        time.sleep(3)
        gw_check = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(f"""
                import asyncio
                from vidgate.settings import Settings
                from vidgate.gateway import Gateway
                from vidgate.store import accounts
                from vidgate.store.tables import accounts as t
                from sqlalchemy import select
                async def main():
                    gw = Gateway(Settings(data_dir={str(tmp)!r}))
                    async with gw.db.read() as conn:
                        bad = 0
                        for (aid,) in (await conn.execute(select(t.c.id))).all():
                            if await accounts.balance(conn, aid) != await accounts.ledger_sum(conn, aid):
                                bad += 1
                        print(bad)
                    await gw.close()
                asyncio.run(main())
            """)], capture_output=True, text=True, check=True, env=env).stdout.strip()
        after = httpx.get(base + "/api/v1/account/balances", headers=h).json()["data"]["credits"]
        print(f"creates under load: {c['non2xx']} non-2xx; accounts whose balance != ledger sum: {gw_check}; "
              f"balance before {before}, after {after}")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""s3 and oss upload targets against a local S3-protocol server (moto), on SQLite and PostgreSQL;
retention expiry (local and S3); a failed upload fails the task and refunds it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from servers import LiveServer, free_port

GEN = "/api/v1/videos/generate"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def target_settings(endpoint: str, name: str, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        f"{name}_bucket": bucket,
        f"{name}_endpoint_url": endpoint,
        f"{name}_region": "us-east-1",
        f"{name}_access_key_id": "testing",
        f"{name}_secret_access_key": "testing",
        f"{name}_addressing_style": "path",
        **{f"{name}_{k}": v for k, v in extra.items()},
    }


def generate(srv: LiveServer, key: str, **fields: Any) -> str:
    r = srv.client(key).post(GEN, json={"model": "sora2", "prompt": "a kite", **fields})
    assert r.status_code == 200, r.text
    return r.json()["data"]["task_id"]


@pytest.mark.parametrize("target", ["s3", "oss"])
def test_upload_target_presigned_download(server_factory: Any, s3_endpoint: str, target: str) -> None:
    bucket = f"vg-{target}-{int(time.time() * 1000)}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    srv: LiveServer = server_factory(**target_settings(s3_endpoint, target, bucket, key_prefix="results"))
    key = srv.test_key
    task_id = generate(srv, key, upload_method=target)
    done = srv.wait_task(key, task_id)
    assert done["status"] == "completed", done
    url = done["video_url"]
    assert url.startswith(f"{s3_endpoint}/{bucket}/results/{task_id}/video.mp4?")
    assert "Signature" in url and done["output"]["resultUrls"] == [url]
    video = httpx.get(url, timeout=30)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert video.headers["content-type"] == "video/mp4"
    head = s3_client(s3_endpoint).head_object(Bucket=bucket, Key=f"results/{task_id}/video.mp4")
    assert head["ContentLength"] == len(video.content)
    # nothing was kept locally
    assert not (srv.settings.results_dir / task_id).exists()
    # the other target is not configured: 400 naming upload_method, nothing charged
    other = "oss" if target == "s3" else "s3"
    r = srv.client(key).post(GEN, json={"model": "sora2", "prompt": "x", "upload_method": other})
    assert r.status_code == 400 and r.json()["error"]["field"] == "upload_method"


def test_public_base_url_and_multipart(server_factory: Any, s3_endpoint: str, tmp_path: Any) -> None:
    bucket = f"vg-pub-{int(time.time() * 1000)}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    srv: LiveServer = server_factory(**target_settings(
        s3_endpoint, "s3", bucket, public_base_url=f"{s3_endpoint}/{bucket}/"))
    task_id = generate(srv, srv.test_key, upload_method="s3")
    done = srv.wait_task(srv.test_key, task_id)
    assert done["video_url"] == f"{s3_endpoint}/{bucket}/{task_id}/video.mp4"

    # a large file goes up in parts (threshold/chunk at their 5 MiB minimum)
    from vidgate.settings import Settings
    from vidgate.storage.s3 import S3Target

    settings = Settings(data_dir=tmp_path, storage_multipart_threshold_bytes=5 * 2**20,
                        storage_multipart_chunk_bytes=5 * 2**20)
    tgt = S3Target("s3", settings.model_copy(update=target_settings(s3_endpoint, "s3", bucket)).storage_target("s3"),
                   settings)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * (11 * 2**20))
    obj = tgt.put_file("big/video.mp4", big)
    head = s3_client(s3_endpoint).head_object(Bucket=bucket, Key=obj)
    assert head["ContentLength"] == 11 * 2**20 and head["ETag"].strip('"').endswith("-3")  # 3 parts


def test_failed_upload_fails_and_refunds(server_factory: Any, s3_endpoint: str) -> None:
    srv: LiveServer = server_factory(**target_settings(s3_endpoint, "s3", "no-such-bucket-here"))
    key = srv.new_key(credits=100)
    task_id = generate(srv, key, upload_method="s3")
    done = srv.wait_task(key, task_id)
    assert done["status"] == "failed"
    assert "no-such-bucket-here" in done["error_message"] and done["credits_refunded"] == 30
    bal = srv.client(key).get("/api/v1/account/balances").json()["data"]["credits"]
    assert bal == 100


def _wait_expired(srv: LiveServer, key: str, task_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        data = srv.client(key).get(f"/api/v1/videos/{task_id}").json()["data"]
        if data.get("expired"):
            return data
        assert time.time() < deadline, data
        time.sleep(0.2)


def test_retention_expires_local_and_s3_results(server_factory: Any, s3_endpoint: str) -> None:
    bucket = f"vg-ret-{int(time.time() * 1000)}"
    s3 = s3_client(s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    # results live 5 s: each is fetched as soon as its task completes (under a loaded CI host the
    # second task can finish seconds after the first, whose result must not have expired by then)
    srv: LiveServer = server_factory(
        result_retention_days=5 / 86400, retention_sweep_seconds=0.3,
        **target_settings(s3_endpoint, "s3", bucket),
    )
    key = srv.test_key
    local_id = generate(srv, key)
    s3_id = generate(srv, key, upload_method="s3")
    local_done = srv.wait_task(key, local_id)
    local_url = local_done["video_url"]
    assert srv.client().get(local_url).status_code == 200
    assert "expired" not in local_done
    s3_done = srv.wait_task(key, s3_id)
    s3_url = s3_done["video_url"]
    assert httpx.get(s3_url).status_code == 200

    for task_id in (local_id, s3_id):
        data = _wait_expired(srv, key, task_id)
        assert data["status"] == "completed" and data["video_url"] is None
        assert data["output"]["resultUrls"] == [] and data["results_expired_at"]
    assert not (srv.settings.results_dir / local_id).exists()
    assert srv.client().get(local_url).status_code == 404
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key=f"{s3_id}/video.mp4")
    assert httpx.get(s3_url).status_code == 404

"""S3-compatible result targets (AWS S3, Alibaba OSS through its S3-compatible endpoint, MinIO, ...).

A request with ``upload_method: "s3"`` (or ``"oss"``) stores its result in that target's bucket; the task
keeps the key as ``"s3:<object key>"`` in ``result_keys`` and ``video_url`` is a presigned GET URL (or
``<public_base_url>/<object key>`` when the target has a public base URL). Uploads go through boto3's
managed transfer (multipart above ``storage_multipart_threshold_bytes``) and are retried.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vidgate.errors import TaskFailed
from vidgate.settings import Settings

log = logging.getLogger("vidgate.storage")

TARGETS = ("s3", "oss")
# client errors that a retry cannot fix
_PERMANENT = {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
              "InvalidBucketName", "AuthorizationHeaderMalformed"}


class S3Target:
    def __init__(self, name: str, conf: dict[str, Any], settings: Settings) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.name = name
        self.bucket: str = conf["bucket"]
        self.prefix: str = (conf.get("key_prefix") or "").strip("/")
        self.public_base_url: str | None = (conf.get("public_base_url") or "").rstrip("/") or None
        self.attempts = settings.storage_upload_attempts
        cfg = Config(
            signature_version="s3v4",
            s3={"addressing_style": conf.get("addressing_style") or "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=conf.get("endpoint_url") or None,
            region_name=conf.get("region") or None,
            aws_access_key_id=conf.get("access_key_id") or None,
            aws_secret_access_key=conf.get("secret_access_key") or None,
            config=cfg,
        )
        self.transfer = TransferConfig(
            multipart_threshold=settings.storage_multipart_threshold_bytes,
            multipart_chunksize=settings.storage_multipart_chunk_bytes,
            max_concurrency=4,
            use_threads=True,
        )

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, src: Path, content_type: str = "video/mp4") -> str:
        """Upload ``src``; returns the object key. Raises TaskFailed when every attempt failed."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        obj = self.object_key(key)
        last: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                self.client.upload_file(
                    str(src), self.bucket, obj, ExtraArgs={"ContentType": content_type}, Config=self.transfer
                )
                return obj
            except (ClientError, Boto3Error, BotoCoreError, OSError) as exc:
                # the managed transfer wraps the ClientError in S3UploadFailedError
                last = exc
                cause = exc if isinstance(exc, ClientError) else (exc.__cause__ or exc.__context__)
                if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in _PERMANENT:
                    break
            if attempt < self.attempts:
                log.warning("upload of %s to %s failed (attempt %d): %s", obj, self.name, attempt, last)
                time.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
        raise TaskFailed(f"Uploading the result to the {self.name} bucket {self.bucket!r} failed: {last}")

    def url(self, obj: str, ttl_seconds: int) -> str:
        if self.public_base_url:
            return f"{self.public_base_url}/{quote(obj, safe='/')}"
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": obj}, ExpiresIn=int(ttl_seconds)
        )

    def delete(self, obj: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=obj)


def build_targets(settings: Settings) -> dict[str, S3Target]:
    """One client per configured target (a target is configured when its bucket is set)."""
    out: dict[str, S3Target] = {}
    for name in TARGETS:
        conf = settings.storage_target(name)
        if conf is not None:
            out[name] = S3Target(name, conf, settings)
    return out

"""Result storage: where finished videos live and how clients fetch them.

:mod:`vidgate.storage.local` keeps results under the data dir and serves them at signed, expiring
``/files/{key}`` URLs that honour HTTP Range requests (so a browser ``<video>`` can seek).
:mod:`vidgate.storage.s3` uploads them to an S3-compatible bucket (``upload_method`` ``s3``/``oss``).

A task's ``result_keys`` hold local keys as they are (``vid_…/video.mp4``) and remote ones with their
target as prefix (``s3:vid_…/video.mp4``); :func:`result_urls` turns them into download URLs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vidgate.gateway import Gateway


def split_key(key: str) -> tuple[str | None, str]:
    """``("s3", "vid_…/video.mp4")`` for a remote key, ``(None, key)`` for a local one."""
    target, sep, rest = key.partition(":")
    if sep and target in ("s3", "oss"):
        return target, rest
    return None, key


def result_urls(gw: Gateway, task: dict[str, Any], base_url: str) -> list[str]:
    """Download URLs for a completed task's results; [] while unfinished or after the results expired."""
    if task["status"] != "completed" or task.get("results_expired_at") is not None:
        return []
    ttl = gw.settings.url_ttl_seconds
    urls: list[str] = []
    for key in task["result_keys"] or []:
        target_name, obj = split_key(key)
        if target_name is None:
            if gw.storage is not None:
                urls.append(gw.storage.signed_url(base_url, obj, ttl))
            continue
        target = gw.targets.get(target_name)
        if target is not None:
            urls.append(target.url(obj, ttl))
    return urls

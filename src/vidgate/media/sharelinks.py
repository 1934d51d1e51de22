"""Sora share links → a downloadable MP4 URL, without logging in.

Follows the team's research notes (``shared/contract/sora-share-links.md``); OpenAI documents none of it.

Accepted links (``https`` only; ``sora.chatgpt.com``, ``www.sora.chatgpt.com``, ``sora.com`` and
``www.sora.com``, all normalised to ``sora.chatgpt.com``; query and fragment stripped, trailing slash
ignored):

* ``/p/s_<32 hex>`` — a published Sora 2 post; ``/p/<opaque token>`` — sent unchanged (kind ``post``).
* ``/g/gen_<26-char ULID>`` — a Sora 1 generation (kind ``generation``).
* ``/d/<...>`` — an owner-only draft (kind ``draft``): :func:`resolve` answers ``not_public`` before any request.

How a post is resolved, in order:

1. **Method A, the JSON API** (preferred): ``GET {api}/backend/project_y/post/{id}/tree?limit=1&max_depth=0``,
   then ``GET {api}/backend/project_y/post/{id}``, with ``Accept: application/json``, a desktop-browser
   ``User-Agent``, ``Referer: {api}/p/{id}``, ``Origin: {api}``, and no ``Authorization`` or cookies.
   The first ``kind == "sora"`` attachment is used; its URL is taken from ``download_urls.no_watermark``
   (only if non-null) → ``downloadable_url`` → ``encodings.source.path`` → ``encodings.source_wm.path``;
   ``url`` and ``encodings.md`` (medium renditions) are never used.
2. **Method B, the share-page scrape** (fallback when the API fails without a definitive answer):
   ``GET {api}/p/{id}`` (keeping the original ``psh`` query), unescape the embedded Next.js JSON
   (``\\"``, ``\\u0026``, ``\\/``, then HTML entities) and take ``no_watermark``/``downloadable_url`` →
   any ``videos.openai.com`` ``…src.mp4``/``…/raw`` URL → ``og:video``.

A generation (``/g/``) uses ``GET {api}/backend/public/generations/{gen_id}`` (method D), then the page scrape.

Failures raise :class:`ShareLinkError` (a ``FetchError``) whose ``reason`` is one of ``invalid_link``,
``not_found``, ``deleted``, ``not_public``, ``blocked`` (moderated), ``not_ready`` (retry later),
``rate_limited`` (retry after ``retry_after``), ``upstream_blocked`` (Cloudflare: ``cloudflare`` is
``"challenge"`` — retryable — or ``"block"``), ``upstream_error``, ``bad_media_host`` or ``expired``.
A response carrying ``x-sora-request-id``/``x-oai-request-id``/``openai-processing-ms``/
``x-envoy-upstream-service-time`` came from OpenAI's origin and its status is trusted; a 403/503
without them but with ``cf-mitigated: challenge`` is a Cloudflare challenge, with ``cf-ray`` or
``server: cloudflare`` a Cloudflare block.

The media URL must be ``https://videos.openai.com/…`` (the fetcher re-checks the host after redirects).
Its ``se=`` query parameter (Azure SAS expiry) becomes ``expires_at``. Anonymous callers get the
watermarked copy: ``watermarked`` is True unless the URL came from ``download_urls.no_watermark``.

All HTTP goes through the SSRF-guarded client. Known limitation: Cloudflare often challenges plain
Python TLS stacks; every working third-party tool uses browser TLS impersonation, which vidgate does not
do (it would bypass the guard) — expect ``upstream_blocked`` with ``cloudflare="challenge"`` then.
``api_base`` and ``media_hosts`` are injectable (tests point them at a loopback server); the *user's*
link must always name one of the Sora hosts.
"""

from __future__ import annotations

import html
import json
import re
import time
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from vidgate.errors import FetchError, UnsafeURL
from vidgate.http_headers import parse_retry_after
from vidgate.media.ssrf import guarded_async_client, guarded_request
from vidgate.settings import Settings

__all__ = [
    "SORA_API_BASE",
    "SORA_HOSTS",
    "SORA_MEDIA_HOSTS",
    "ResolvedShareLink",
    "ShareLink",
    "ShareLinkError",
    "is_share_link",
    "parse_share_link",
    "resolve",
]

SORA_HOSTS = frozenset({"sora.chatgpt.com", "www.sora.chatgpt.com", "sora.com", "www.sora.com"})
CANONICAL_HOST = "sora.chatgpt.com"
SORA_API_BASE = "https://sora.chatgpt.com"
SORA_MEDIA_HOSTS: tuple[str, ...] = ("videos.openai.com",)
# Upstream JSON/HTML bodies we are willing to read (a share page is a few hundred KB).
MAX_UPSTREAM_BODY_BYTES = 8 * 1024 * 1024
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
ORIGIN_HEADERS = ("x-sora-request-id", "x-oai-request-id", "openai-processing-ms", "x-envoy-upstream-service-time")

# Reasons (ShareLinkError.reason)
INVALID_LINK = "invalid_link"
NOT_FOUND = "not_found"
DELETED = "deleted"
NOT_PUBLIC = "not_public"
BLOCKED = "blocked"
NOT_READY = "not_ready"
RATE_LIMITED = "rate_limited"
UPSTREAM_BLOCKED = "upstream_blocked"
UPSTREAM_ERROR = "upstream_error"
BAD_MEDIA_HOST = "bad_media_host"
EXPIRED = "expired"

_RETRYABLE = frozenset({NOT_READY, RATE_LIMITED, UPSTREAM_ERROR, EXPIRED})
# When every method failed without a definitive answer, report the most telling failure.
_FAILURE_PRIORITY = (NOT_PUBLIC, NOT_FOUND, RATE_LIMITED, UPSTREAM_BLOCKED, BAD_MEDIA_HOST, UPSTREAM_ERROR)

_POST_ID_RE = re.compile(r"^s_[0-9a-f]{32}$")
_OPAQUE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_GEN_ID_RE = re.compile(r"^gen_[0-9A-Za-z]{26}$")
_KIND_PREFIX = {"post": "p", "generation": "g", "draft": "d"}


class ShareLinkError(FetchError):
    """A share link could not be turned into a media URL. ``reason`` says why (see the module docs)."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        retryable: bool | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        cloudflare: str | None = None,
    ) -> None:
        self.reason = reason
        self.retryable = reason in _RETRYABLE if retryable is None else retryable
        self.retry_after = retry_after
        self.status = status
        self.cloudflare = cloudflare
        details: dict[str, typing.Any] = {"reason": reason, "retryable": self.retryable}
        if retry_after is not None:
            details["retry_after"] = retry_after
        if status is not None:
            details["upstream_status"] = status
        super().__init__(message, details=details)


@dataclass(frozen=True)
class ShareLink:
    kind: typing.Literal["post", "generation", "draft"]
    id: str
    url: str  # normalised: https://sora.chatgpt.com/{p|g|d}/{id}
    original_url: str
    query: str = ""  # the original query string (e.g. psh=...), kept for the page scrape

    @property
    def page_path(self) -> str:
        return f"/{_KIND_PREFIX[self.kind]}/{self.id}"


@dataclass(frozen=True)
class ResolvedShareLink:
    media_url: str
    watermarked: bool
    expires_at: datetime | None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    n_frames: int | None = None
    caption: str | None = None
    username: str | None = None
    size_bytes: int | None = None
    method: str = ""  # "api:tree", "api:post", "api:generation" or "page"
    link: ShareLink | None = None
    media_hosts: tuple[str, ...] = field(default=SORA_MEDIA_HOSTS)

    def expires_soon(self, margin_s: float = 3600.0) -> bool:
        """True when the media URL expires within ``margin_s`` (re-resolve instead of using it)."""
        return self.expires_at is not None and self.expires_at.timestamp() - time.time() < margin_s

    def to_dict(self) -> dict[str, typing.Any]:
        return {
            "media_url": self.media_url,
            "watermarked": self.watermarked,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "width": self.width,
            "height": self.height,
            "duration_s": self.duration_s,
            "n_frames": self.n_frames,
            "caption": self.caption,
            "username": self.username,
            "size_bytes": self.size_bytes,
            "method": self.method,
            "share_url": self.link.url if self.link else None,
        }


# ---------------------------------------------------------------------------------------------- parsing


def _host_of(url: httpx.URL) -> str:
    return url.host.lower().rstrip(".")


def is_share_link(url: str) -> bool:
    """True when ``url`` points at a Sora host (whatever its path: :func:`parse_share_link` judges that)."""
    try:
        return _host_of(httpx.URL(url)) in SORA_HOSTS
    except (httpx.InvalidURL, TypeError, ValueError):
        return False


def parse_share_link(url: str) -> ShareLink:
    """Validate a Sora share link and extract its kind and id. Raises ``ShareLinkError(invalid_link)``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ShareLinkError(f"Not a valid URL: {url!r}", reason=INVALID_LINK) from None
    if _host_of(parsed) not in SORA_HOSTS:
        raise ShareLinkError(
            "Not a Sora share link: the host must be sora.chatgpt.com or sora.com", reason=INVALID_LINK
        )
    if parsed.scheme != "https":
        raise ShareLinkError("Sora share links must use https://", reason=INVALID_LINK)
    if parsed.userinfo or parsed.port not in (None, 443):
        raise ShareLinkError("Sora share links may not carry credentials or a port", reason=INVALID_LINK)
    segments = [s for s in parsed.path.split("/") if s]
    query = parsed.query.decode("ascii", "replace")
    if len(segments) == 2:
        prefix, token = segments
        if prefix == "p" and (_POST_ID_RE.match(token) or _OPAQUE_ID_RE.match(token)):
            kind: typing.Literal["post", "generation", "draft"] = "post"
        elif prefix == "g" and _GEN_ID_RE.match(token):
            kind = "generation"
        elif prefix == "d" and _OPAQUE_ID_RE.match(token):
            kind = "draft"
        else:
            kind = None  # type: ignore[assignment]
        if kind is not None:
            return ShareLink(
                kind=kind,
                id=token,
                url=f"https://{CANONICAL_HOST}/{prefix}/{token}",
                original_url=url,
                query=query,
            )
    raise ShareLinkError(
        "Unsupported Sora link: expected https://sora.chatgpt.com/p/<post id> or /g/gen_<id>",
        reason=INVALID_LINK,
    )


# ------------------------------------------------------------------------------------------- payloads


def _parse_expiry(media_url: str) -> datetime | None:
    values = parse_qs(urlsplit(media_url).query).get("se")
    if not values:
        return None
    try:
        parsed = datetime.fromisoformat(values[0].strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _media_url_ok(url: typing.Any, media_hosts: tuple[str, ...], schemes: frozenset[str]) -> bool:
    if not isinstance(url, str) or not url:
        return False
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return parsed.scheme in schemes and not parsed.userinfo and _host_of(parsed) in media_hosts


def _get(obj: typing.Any, *keys: str) -> typing.Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _num(value: typing.Any, kind: type) -> typing.Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)


def _select_url(
    attachment: dict[str, typing.Any], media_hosts: tuple[str, ...], schemes: frozenset[str]
) -> tuple[str | None, bool, bool]:
    """(url, watermarked, saw_foreign_url) following the documented preference order."""
    candidates = (
        (_get(attachment, "download_urls", "no_watermark"), False),
        (_get(attachment, "downloadable_url"), True),
        (_get(attachment, "encodings", "source", "path"), True),
        (_get(attachment, "encodings", "source_wm", "path"), True),
    )
    foreign = False
    for url, watermarked in candidates:
        if _media_url_ok(url, media_hosts, schemes):
            return url, watermarked, foreign
        if isinstance(url, str) and url:
            foreign = True
    return None, True, foreign


def _from_post_payload(
    data: typing.Any,
    link: ShareLink,
    *,
    method: str,
    media_hosts: tuple[str, ...],
    schemes: frozenset[str],
) -> ResolvedShareLink:
    """Interpret a ``post``/``profile`` envelope. Raises the definitive ShareLinkErrors."""
    post = _get(data, "post") if isinstance(_get(data, "post"), dict) else data
    if not isinstance(post, dict) or not ({"attachments", "permissions", "tombstoned_at"} & post.keys()):
        raise ShareLinkError("Sora API returned an unexpected response (no post object)", reason=UPSTREAM_ERROR)
    if post.get("tombstoned_at") is not None:
        raise ShareLinkError("This Sora post was deleted by its owner", reason=DELETED)
    if _get(post, "permissions", "can_read") is False:
        raise ShareLinkError("This Sora post is not public: ask its owner to publish or share it", reason=NOT_PUBLIC)
    attachments = [a for a in post.get("attachments") or [] if isinstance(a, dict)]
    soras = [a for a in attachments if a.get("kind") == "sora"] or [a for a in attachments if "kind" not in a]
    foreign = False
    for attachment in soras:
        url, watermarked, saw_foreign = _select_url(attachment, media_hosts, schemes)
        foreign = foreign or saw_foreign
        if url is None:
            continue
        source = _get(attachment, "encodings", "source") or {}
        duration = _num(attachment.get("duration_s"), float)
        if duration is None:
            duration = _num(_get(source, "duration_secs"), float)
        caption = post.get("text")
        username = _get(data, "profile", "username")
        return ResolvedShareLink(
            media_url=url,
            watermarked=watermarked,
            expires_at=_parse_expiry(url),
            width=_num(attachment.get("width"), int),
            height=_num(attachment.get("height"), int),
            duration_s=duration,
            n_frames=_num(attachment.get("n_frames"), int),
            caption=caption if isinstance(caption, str) else None,
            username=username if isinstance(username, str) else None,
            size_bytes=_num(_get(source, "size"), int),
            method=method,
            link=link,
            media_hosts=media_hosts,
        )
    if any(a.get("output_blocked") is True for a in soras):
        raise ShareLinkError("This Sora video was blocked by OpenAI's content moderation", reason=BLOCKED)
    if foreign:
        raise ShareLinkError(
            f"Sora returned a media URL outside {', '.join(media_hosts)}; refusing to fetch it",
            reason=BAD_MEDIA_HOST,
        )
    raise ShareLinkError("This Sora video is not ready yet (no downloadable file); try again later", reason=NOT_READY)


def _from_generation_payload(
    data: typing.Any,
    link: ShareLink,
    *,
    media_hosts: tuple[str, ...],
    schemes: frozenset[str],
) -> ResolvedShareLink:
    gen = _get(data, "generation") if isinstance(_get(data, "generation"), dict) else data
    if not isinstance(gen, dict) or "encodings" not in gen:
        raise ShareLinkError("Sora API returned an unexpected generation response", reason=UPSTREAM_ERROR)
    if gen.get("deleted_at") is not None or gen.get("tombstoned_at") is not None:
        raise ShareLinkError("This Sora generation was deleted", reason=DELETED)
    url = _get(gen, "encodings", "source", "path")
    if not _media_url_ok(url, media_hosts, schemes):
        if isinstance(url, str) and url:
            raise ShareLinkError(f"Sora returned a media URL outside {', '.join(media_hosts)}", reason=BAD_MEDIA_HOST)
        raise ShareLinkError("This Sora generation has no downloadable file yet", reason=NOT_READY)
    caption = gen.get("prompt") or gen.get("title")
    return ResolvedShareLink(
        media_url=url,
        watermarked=True,
        expires_at=_parse_expiry(url),
        width=_num(gen.get("width"), int),
        height=_num(gen.get("height"), int),
        duration_s=_num(_get(gen, "encodings", "source", "duration_secs"), float),
        n_frames=_num(gen.get("n_frames"), int),
        caption=caption if isinstance(caption, str) else None,
        username=_get(gen, "user", "username") if isinstance(_get(gen, "user", "username"), str) else None,
        size_bytes=_num(_get(gen, "encodings", "source", "size"), int),
        method="api:generation",
        link=link,
        media_hosts=media_hosts,
    )


_DERIVED_RE = re.compile(r"(?:/|%2[Ff])drvs(?:/|%2[Ff])")
_UNICODE_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")


def unescape_page(text: str) -> str:
    """Undo the escaping of JSON embedded in a Next.js page: ``\\"``, ``\\uXXXX``, ``\\/``, then HTML entities.

    Repeated (at most 3 rounds) because flight data is sometimes escaped twice.
    """
    for _ in range(3):
        new = text.replace('\\"', '"').replace("\\/", "/")
        new = _UNICODE_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), new)
        new = html.unescape(new)
        if new == text:
            break
        text = new
    return text


def _meta(page: str, prop: str) -> str | None:
    for pattern in (
        rf'<meta[^>]+(?:property|name)=["\']{re.escape(prop)}["\'][^>]*\bcontent=["\']([^"\']*)["\']',
        rf'<meta[^>]+\bcontent=["\']([^"\']*)["\'][^>]*(?:property|name)=["\']{re.escape(prop)}["\']',
    ):
        match = re.search(pattern, page, re.IGNORECASE)
        if match:
            return html.unescape(match.group(1))
    return None


def _from_share_page(
    page: str, link: ShareLink, *, media_hosts: tuple[str, ...], schemes: frozenset[str]
) -> ResolvedShareLink:
    text = unescape_page(page)
    hosts = "|".join(re.escape(h) for h in media_hosts)
    candidates: list[tuple[str, bool]] = []
    for key, watermarked in (("no_watermark", False), ("downloadable_url", True)):
        candidates += [(m, watermarked) for m in re.findall(rf'"{key}"\s*:\s*"([^"]+)"', text)]
    any_media = rf'https?://(?:{hosts})(?::\d+)?/[^\s"\'<>\\]*?(?:src\.mp4|/raw|%2[Ff]raw)(?:\?[^\s"\'<>\\]*)?'
    # Derived renditions (``drvs/md``, ``drvs/gif``, thumbnails) are never the source file.
    candidates += [(m, True) for m in re.findall(any_media, text) if not _DERIVED_RE.search(m)]
    og_video = _meta(page, "og:video") or _meta(page, "og:video:url") or _meta(page, "og:video:secure_url")
    if og_video:
        candidates.append((og_video, True))
    for url, watermarked in candidates:
        if _media_url_ok(url, media_hosts, schemes):
            caption = _meta(page, "og:description") or _meta(page, "og:title")
            username = re.search(r'"username"\s*:\s*"([^"]{1,100})"', text)
            width, height = _meta(page, "og:video:width"), _meta(page, "og:video:height")
            return ResolvedShareLink(
                media_url=url,
                watermarked=watermarked,
                expires_at=_parse_expiry(url),
                width=int(width) if width and width.isdigit() else None,
                height=int(height) if height and height.isdigit() else None,
                caption=caption,
                username=username.group(1) if username else None,
                method="page",
                link=link,
                media_hosts=media_hosts,
            )
    if re.search(r'"tombstoned_at"\s*:\s*(?!null)[0-9"]', text):
        raise ShareLinkError("This Sora post was deleted by its owner", reason=DELETED)
    if re.search(r'"can_read"\s*:\s*false', text):
        raise ShareLinkError("This Sora post is not public: ask its owner to publish or share it", reason=NOT_PUBLIC)
    if re.search(r'"output_blocked"\s*:\s*true', text):
        raise ShareLinkError("This Sora video was blocked by OpenAI's content moderation", reason=BLOCKED)
    if candidates:
        raise ShareLinkError(f"The Sora share page links media outside {', '.join(media_hosts)}", reason=BAD_MEDIA_HOST)
    raise ShareLinkError("Could not find a video URL in the Sora share page", reason=UPSTREAM_ERROR)


# --------------------------------------------------------------------------------------------- HTTP


def classify_response(response: httpx.Response, what: str) -> ShareLinkError | None:
    """None when the response is a 2xx from OpenAI's side; otherwise the error it stands for."""
    headers = response.headers
    status = response.status_code
    from_origin = any(h in headers for h in ORIGIN_HEADERS)
    via_cloudflare = "cf-ray" in headers or headers.get("server", "").lower() == "cloudflare"
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"))
        return ShareLinkError(
            f"Sora is rate limiting us ({what}: HTTP 429); retry later",
            reason=RATE_LIMITED,
            retry_after=retry_after,
            status=status,
        )
    if not from_origin:
        if headers.get("cf-mitigated", "").strip().lower() == "challenge":
            return ShareLinkError(
                f"Cloudflare challenged the request to Sora ({what}: HTTP {status}); "
                "Sora only serves browsers right now, try again later",
                reason=UPSTREAM_BLOCKED,
                retryable=True,
                status=status,
                cloudflare="challenge",
            )
        if status in (403, 503) and via_cloudflare:
            return ShareLinkError(
                f"Cloudflare blocked the request to Sora ({what}: HTTP {status})",
                reason=UPSTREAM_BLOCKED,
                retryable=False,
                status=status,
                cloudflare="block",
            )
    if 200 <= status < 300:
        return None
    if status == 404:
        return ShareLinkError(
            "Sora post not found: the link is wrong or the post was deleted", reason=NOT_FOUND, status=status
        )
    if status in (401, 403) and from_origin:
        return ShareLinkError(
            "This Sora post is not public: ask its owner to publish or share it", reason=NOT_PUBLIC, status=status
        )
    return ShareLinkError(
        f"Sora answered HTTP {status} ({what})",
        reason=UPSTREAM_ERROR,
        retryable=status >= 500 or status == 408,
        status=status,
    )


async def _get_text(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], settings: Settings
) -> tuple[httpx.Response, str]:
    client.cookies.clear()  # never send cookies, not even ones Cloudflare set on a previous hop
    response = await guarded_request(client, "GET", url, settings=settings, stream=True, headers=headers)
    try:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPSTREAM_BODY_BYTES:
            raise ShareLinkError(f"Sora response too large ({declared} bytes)", reason=UPSTREAM_ERROR)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_UPSTREAM_BODY_BYTES:
                raise ShareLinkError("Sora response too large", reason=UPSTREAM_ERROR)
    finally:
        await response.aclose()
    return response, bytes(body).decode(response.encoding or "utf-8", "replace")


def _pick_failure(errors: list[ShareLinkError]) -> ShareLinkError:
    for reason in _FAILURE_PRIORITY:
        matching = [e for e in errors if e.reason == reason]
        if matching:
            challenged = [e for e in matching if e.cloudflare == "challenge"]
            return (challenged or matching)[0]
    return errors[-1]


async def resolve(
    url: str,
    *,
    settings: Settings,
    api_base: str | None = None,
    media_hosts: tuple[str, ...] | None = None,
) -> ResolvedShareLink:
    """Resolve a Sora share link to its media URL and metadata (see the module docstring).

    ``api_base`` (default :data:`SORA_API_BASE`) and ``media_hosts`` (default :data:`SORA_MEDIA_HOSTS`)
    exist for tests; the media URL's scheme must be https (or the scheme of ``api_base``).
    Raises :class:`ShareLinkError`, or :class:`UnsafeURL` if the guard refuses a request.
    """
    link = parse_share_link(url)
    if link.kind == "draft":
        raise ShareLinkError(
            "This is a private Sora draft (/d/ link): publish or share the video first, then use its share link",
            reason=NOT_PUBLIC,
        )
    base = (api_base if api_base is not None else SORA_API_BASE).rstrip("/")
    hosts = tuple(h.lower() for h in (media_hosts if media_hosts is not None else SORA_MEDIA_HOSTS))
    schemes = frozenset({"https", httpx.URL(base).scheme})
    page_url = base + link.page_path + (f"?{link.query}" if link.query else "")
    api_headers = {
        "Accept": "application/json",
        "Accept-Language": "en-US,en;q=0.9",
        "User-Agent": BROWSER_USER_AGENT,
        "Referer": base + link.page_path,
        "Origin": base,
    }
    page_headers = {
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "en-US,en;q=0.9",
        "User-Agent": BROWSER_USER_AGENT,
    }
    quoted = quote(link.id, safe="")
    if link.kind == "post":
        api_calls = [
            ("api:tree", f"{base}/backend/project_y/post/{quoted}/tree?limit=1&max_depth=0"),
            ("api:post", f"{base}/backend/project_y/post/{quoted}"),
        ]
    else:
        api_calls = [("api:generation", f"{base}/backend/public/generations/{quoted}")]

    errors: list[ShareLinkError] = []
    async with guarded_async_client(settings) as client:
        for method, call_url in api_calls:
            try:
                response, body = await _get_text(client, call_url, api_headers, settings)
                failure = classify_response(response, method)
                if failure is None:
                    try:
                        data = json.loads(body)
                    except ValueError:
                        raise ShareLinkError(f"Sora API returned non-JSON ({method})", reason=UPSTREAM_ERROR) from None
                    if link.kind == "post":
                        return _from_post_payload(data, link, method=method, media_hosts=hosts, schemes=schemes)
                    return _from_generation_payload(data, link, media_hosts=hosts, schemes=schemes)
                errors.append(failure)
            except ShareLinkError as exc:
                if exc.reason not in (UPSTREAM_ERROR, BAD_MEDIA_HOST):
                    raise  # a definitive answer about the post itself
                errors.append(exc)
            except UnsafeURL:
                raise
            except (httpx.HTTPError, FetchError) as exc:
                errors.append(ShareLinkError(f"Sora API request failed ({method}): {exc}", reason=UPSTREAM_ERROR))

        # Method B: the share page.
        try:
            response, body = await _get_text(client, page_url, page_headers, settings)
            failure = classify_response(response, "share page")
            if failure is None:
                return _from_share_page(body, link, media_hosts=hosts, schemes=schemes)
            errors.append(failure)
        except ShareLinkError as exc:
            if exc.reason not in (UPSTREAM_ERROR, BAD_MEDIA_HOST):
                raise
            errors.append(exc)
        except UnsafeURL:
            raise
        except (httpx.HTTPError, FetchError) as exc:
            errors.append(ShareLinkError(f"Sora share page request failed: {exc}", reason=UPSTREAM_ERROR))
    raise _pick_failure(errors)

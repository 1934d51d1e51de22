"""Sora share links: parsing every form, and the resolver against a loopback server replaying fixtures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from vidgate.errors import FetchError
from vidgate.media import sharelinks
from vidgate.media.fetch import fetch_video
from vidgate.media.sharelinks import (
    ShareLinkError,
    classify_response,
    is_share_link,
    parse_share_link,
    resolve,
    unescape_page,
)

from .loopback import FIXTURES, LoopbackServer, Reply

POST_ID = "s_0123456789abcdef0123456789abcdef"
GEN_ID = "gen_01JZ0000000000000000000000"
LINK = f"https://sora.chatgpt.com/p/{POST_ID}"
TREE = f"/backend/project_y/post/{POST_ID}/tree"
POST = f"/backend/project_y/post/{POST_ID}"
PAGE = f"/p/{POST_ID}"
DOWNLOADABLE = "/az/files/22222222-2222-4222-8222-222222222222%2Fraw"
OG_VIDEO = "/az/files/44444444-4444-4444-8444-444444444444%2Fraw"

# What OpenAI's origin sends (it sits behind Cloudflare, hence cf-ray / server too).
ORIGIN = {
    "Content-Type": "application/json",
    "x-oai-request-id": "req_placeholder",
    "openai-processing-ms": "42",
    "server": "cloudflare",
    "cf-ray": "0000000000000000-SJC",
}
CHALLENGE = {
    "Content-Type": "text/html; charset=UTF-8",
    "cf-mitigated": "challenge",
    "server": "cloudflare",
    "cf-ray": "0000000000000000-SJC",
}
CF_BLOCK = {"Content-Type": "text/html; charset=UTF-8", "server": "cloudflare", "cf-ray": "0000000000000000-SJC"}


def fixture(name: str, server: LoopbackServer) -> bytes:
    """A recorded fixture with its videos.openai.com URLs pointed at the loopback server."""
    text = (FIXTURES / name).read_text()
    text = text.replace("https://videos.openai.com", server.base)
    text = text.replace("https:\\/\\/videos.openai.com", server.base.replace("/", "\\/"))
    return text.encode()


async def resolve_local(server: LoopbackServer, settings, url: str = LINK):
    return await resolve(url, settings=settings, api_base=server.base, media_hosts=("127.0.0.1",))


# ------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("url", "kind", "ident", "query"),
    [
        (LINK, "post", POST_ID, ""),
        (f"https://www.sora.chatgpt.com/p/{POST_ID}/", "post", POST_ID, ""),
        (f"https://sora.com/p/{POST_ID}", "post", POST_ID, ""),
        (f"https://www.sora.com/p/{POST_ID}?psh=abc123#top", "post", POST_ID, "psh=abc123"),
        (f"https://SORA.ChatGPT.com./p/{POST_ID}?utm_source=x", "post", POST_ID, "utm_source=x"),
        ("https://sora.chatgpt.com/p/01JX0000000000000000000000", "post", "01JX0000000000000000000000", ""),
        (f"https://sora.chatgpt.com/g/{GEN_ID}", "generation", GEN_ID, ""),
        (f"https://sora.com/g/{GEN_ID}/", "generation", GEN_ID, ""),
        (f"https://sora.chatgpt.com/d/{GEN_ID}", "draft", GEN_ID, ""),
        (f"https://sora.chatgpt.com:443/p/{POST_ID}", "post", POST_ID, ""),
    ],
)
def test_parse_share_link(url: str, kind: str, ident: str, query: str) -> None:
    assert is_share_link(url)
    link = parse_share_link(url)
    prefix = {"post": "p", "generation": "g", "draft": "d"}[kind]
    assert (link.kind, link.id, link.query) == (kind, ident, query)
    assert link.url == f"https://sora.chatgpt.com/{prefix}/{ident}"
    assert link.original_url == url


@pytest.mark.parametrize(
    "url",
    [
        f"http://sora.chatgpt.com/p/{POST_ID}",
        f"https://sora.chatgpt.com:8443/p/{POST_ID}",
        f"https://user@sora.chatgpt.com/p/{POST_ID}",
        "https://sora.chatgpt.com/",
        "https://sora.chatgpt.com/p/",
        f"https://sora.chatgpt.com/p/{POST_ID}/extra",
        f"https://sora.chatgpt.com/share/{POST_ID}",
        f"https://sora.chatgpt.com/x/{POST_ID}",
        "https://sora.chatgpt.com/p/..%2F..%2Fbackend",
        "https://sora.chatgpt.com/g/gen_short",
        "https://sora.chatgpt.com/profile/someone",
    ],
)
def test_parse_rejects_bad_sora_links(url: str) -> None:
    assert is_share_link(url)  # a Sora host, so the fetcher routes it here and gets a clear error
    with pytest.raises(ShareLinkError) as info:
        parse_share_link(url)
    assert info.value.reason == "invalid_link"


@pytest.mark.parametrize(
    "url",
    [
        f"https://sora.chatgpt.com.evil.example/p/{POST_ID}",
        f"https://evilsora.com/p/{POST_ID}",
        f"https://chatgpt.com/p/{POST_ID}",
        "https://videos.openai.com/az/files/x%2Fraw",
        "not a url at all",
        POST_ID,
    ],
)
def test_not_share_links(url: str) -> None:
    assert not is_share_link(url)
    with pytest.raises(ShareLinkError, match="Not a"):
        parse_share_link(url)


async def test_draft_refused_before_any_request(server, settings) -> None:
    with pytest.raises(ShareLinkError, match="publish or share") as info:
        await resolve_local(server, settings, f"https://sora.chatgpt.com/d/{GEN_ID}")
    assert info.value.reason == "not_public" and not info.value.retryable
    assert server.seen == []


# ---------------------------------------------------------------------------------- pure interpretation


def _payload(**attachment) -> dict:
    return {
        "post": {
            "id": POST_ID,
            "tombstoned_at": None,
            "permissions": {"can_read": True},
            "attachments": [{"kind": "sora", **attachment}],
        }
    }


def _pick(data: dict):
    link = parse_share_link(LINK)
    return sharelinks._from_post_payload(
        data, link, method="api:tree", media_hosts=("videos.openai.com",), schemes=frozenset({"https"})
    )


V = "https://videos.openai.com/az/files/"


def test_attachment_url_preference_order() -> None:
    full = dict(
        url=V + "md%2Fraw",
        downloadable_url=V + "dl%2Fraw",
        download_urls={"no_watermark": V + "clean%2Fraw"},
        encodings={
            "source": {"path": V + "src%2Fraw"},
            "source_wm": {"path": V + "wm%2Fraw"},
            "md": {"path": V + "md2%2Fraw"},
        },
    )
    got = _pick(_payload(**full))
    assert got.media_url == V + "clean%2Fraw" and got.watermarked is False
    full["download_urls"] = {"no_watermark": None, "watermark": V + "w%2Fraw"}
    got = _pick(_payload(**full))
    assert got.media_url == V + "dl%2Fraw" and got.watermarked is True
    del full["downloadable_url"]
    assert _pick(_payload(**full)).media_url == V + "src%2Fraw"
    full["encodings"]["source"] = None
    assert _pick(_payload(**full)).media_url == V + "wm%2Fraw"
    # `url` and the medium rendition are never used.
    with pytest.raises(ShareLinkError) as info:
        _pick(_payload(url=V + "md%2Fraw", encodings={"md": {"path": V + "md%2Fraw"}}))
    assert info.value.reason == "not_ready" and info.value.retryable


def test_foreign_media_host_refused() -> None:
    with pytest.raises(ShareLinkError) as info:
        _pick(_payload(downloadable_url="https://evil.example/x.mp4"))
    assert info.value.reason == "bad_media_host"
    with pytest.raises(ShareLinkError):  # plain http on the media host is not accepted either
        _pick(_payload(downloadable_url="http://videos.openai.com/az/files/x%2Fraw"))


def test_first_sora_attachment_is_used() -> None:
    data = _payload(downloadable_url=V + "sora%2Fraw")
    data["post"]["attachments"].insert(0, {"kind": "image", "downloadable_url": V + "img%2Fraw"})
    assert _pick(data).media_url == V + "sora%2Fraw"


def test_expiry_parsed_from_se() -> None:
    got = _pick(_payload(downloadable_url=V + "x%2Fraw?se=2030-01-08T00%3A00%3A00Z&sig=abc"))
    assert got.expires_at == datetime(2030, 1, 8, tzinfo=UTC)
    assert not got.expires_soon()
    old = _pick(_payload(downloadable_url=V + "x%2Fraw?se=2020-01-01T00%3A00%3A00Z&sig=abc"))
    assert old.expires_soon()
    assert _pick(_payload(downloadable_url=V + "x%2Fraw?se=garbage")).expires_at is None


def test_unescape_page() -> None:
    raw = r"{\"downloadable_url\":\"https:\/\/videos.openai.com\/a%2Fraw?se=1\u0026sig=2\"} &amp; &quot;x&quot;"
    assert unescape_page(raw) == '{"downloadable_url":"https://videos.openai.com/a%2Fraw?se=1&sig=2"} & "x"'


def _response(status: int, headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "https://sora.chatgpt.com/"))


def test_classify_cloudflare_vs_origin() -> None:
    challenge = classify_response(_response(403, CHALLENGE), "x")
    assert (challenge.reason, challenge.cloudflare, challenge.retryable) == ("upstream_blocked", "challenge", True)
    challenge503 = classify_response(_response(503, CHALLENGE), "x")
    assert challenge503.cloudflare == "challenge"
    block = classify_response(_response(403, CF_BLOCK), "x")
    assert (block.reason, block.cloudflare, block.retryable) == ("upstream_blocked", "block", False)
    assert classify_response(_response(403, ORIGIN), "x").reason == "not_public"
    assert classify_response(_response(401, ORIGIN), "x").reason == "not_public"
    assert classify_response(_response(404, ORIGIN), "x").reason == "not_found"
    limited = classify_response(_response(429, {**CF_BLOCK, "Retry-After": "12"}), "x")
    assert (limited.reason, limited.retry_after, limited.retryable) == ("rate_limited", 12.0, True)
    assert classify_response(_response(502, ORIGIN), "x").retryable
    assert classify_response(_response(200, ORIGIN), "x") is None


# ------------------------------------------------------------------------------------ replayed upstream


async def test_public_post(server, settings) -> None:
    server.route(TREE, Reply(200, fixture("post_public.json", server), ORIGIN))
    got = await resolve_local(server, settings)
    assert got.media_url.startswith(server.base + DOWNLOADABLE + "?se=2030-01-08T00%3A00%3A00Z")
    assert got.watermarked is True
    assert got.expires_at == datetime(2030, 1, 8, tzinfo=UTC)
    assert (got.width, got.height, got.duration_s, got.n_frames) == (512, 896, 15.0, 450)
    assert got.caption == "A placeholder caption about a cat on a skateboard"
    assert got.username == "placeholder_user" and got.size_bytes == 4_200_000
    assert got.method == "api:tree" and got.link.id == POST_ID
    assert got.to_dict()["share_url"] == LINK
    (seen,) = server.seen
    assert seen.path == f"{TREE}?limit=1&max_depth=0"
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["referer"] == f"{server.base}/p/{POST_ID}"
    assert seen.headers["origin"] == server.base
    assert "Mozilla/5.0" in seen.headers["user-agent"]
    assert "authorization" not in seen.headers and "cookie" not in seen.headers


async def test_tree_missing_falls_back_to_post_endpoint(server, settings) -> None:
    server.route(TREE, Reply(404, b'{"error":{"message":"Not found"}}', ORIGIN))
    server.route(POST, Reply(200, fixture("post_public.json", server), ORIGIN))
    got = await resolve_local(server, settings)
    assert got.method == "api:post"
    assert server.paths() == [f"{TREE}?limit=1&max_depth=0", POST]


@pytest.mark.parametrize(
    ("name", "reason", "retryable", "message"),
    [
        ("post_tombstoned.json", "deleted", False, "deleted"),
        ("post_not_readable.json", "not_public", False, "not public"),
        ("post_output_blocked.json", "blocked", False, "moderation"),
        ("post_not_ready.json", "not_ready", True, "not ready"),
    ],
)
async def test_definitive_post_states(server, settings, name, reason, retryable, message) -> None:
    server.route(TREE, Reply(200, fixture(name, server), ORIGIN))
    with pytest.raises(ShareLinkError, match=message) as info:
        await resolve_local(server, settings)
    assert info.value.reason == reason and info.value.retryable is retryable
    assert isinstance(info.value, FetchError)
    assert info.value.details["reason"] == reason
    assert len(server.seen) == 1  # a definitive answer: no fallback requests


async def test_cloudflare_challenge_everywhere(server, settings) -> None:
    page = (FIXTURES / "cf_challenge.html").read_bytes()
    for path in (TREE, POST, PAGE):
        server.route(path, Reply(403, page, CHALLENGE))
    with pytest.raises(ShareLinkError, match="Cloudflare challenged") as info:
        await resolve_local(server, settings)
    err = info.value
    assert (err.reason, err.cloudflare, err.retryable, err.status) == ("upstream_blocked", "challenge", True, 403)
    assert [p.split("?")[0] for p in server.paths()] == [TREE, POST, PAGE]


async def test_cloudflare_block(server, settings) -> None:
    page = (FIXTURES / "cf_block.html").read_bytes()
    for path in (TREE, POST, PAGE):
        server.route(path, Reply(403, page, CF_BLOCK))
    with pytest.raises(ShareLinkError, match="Cloudflare blocked") as info:
        await resolve_local(server, settings)
    assert (info.value.reason, info.value.cloudflare, info.value.retryable) == ("upstream_blocked", "block", False)


async def test_api_challenged_then_page_scrape(server, settings) -> None:
    challenge = (FIXTURES / "cf_challenge.html").read_bytes()
    server.route(TREE, Reply(403, challenge, CHALLENGE))
    server.route(POST, Reply(503, challenge, CHALLENGE))
    server.route(PAGE, Reply(200, fixture("share_page.html", server), {**ORIGIN, "Content-Type": "text/html"}))
    got = await resolve_local(server, settings, f"https://sora.com/p/{POST_ID}?psh=PLACEHOLDER#frag")
    assert got.method == "page"
    assert got.media_url.startswith(server.base + DOWNLOADABLE + "?se=2030-01-08T00%3A00%3A00Z&sp=r")
    assert got.watermarked is True and got.expires_at == datetime(2030, 1, 8, tzinfo=UTC)
    assert got.caption == "A placeholder caption from the page" and got.username == "placeholder_user"
    assert (got.width, got.height) == (512, 896)
    assert server.seen[-1].path == f"{PAGE}?psh=PLACEHOLDER"  # the original query is kept for the page
    assert server.seen[-1].headers["accept"].startswith("text/html")


async def test_page_scrape_og_video_only(server, settings) -> None:
    server.route(TREE, Reply(500, b"{}", ORIGIN))
    server.route(POST, Reply(500, b"{}", ORIGIN))
    server.route(PAGE, Reply(200, fixture("share_page_og_only.html", server), {"Content-Type": "text/html"}))
    got = await resolve_local(server, settings)
    assert got.method == "page"
    assert got.media_url == server.base + OG_VIDEO + "?se=2030-01-08T00%3A00%3A00Z&sig=PLACEHOLDEROG"


async def test_rate_limited(server, settings) -> None:
    for path in (TREE, POST, PAGE):
        server.route(path, Reply(429, b'{"error":"rate limited"}', {**ORIGIN, "Retry-After": "7"}))
    with pytest.raises(ShareLinkError, match="rate limiting") as info:
        await resolve_local(server, settings)
    assert (info.value.reason, info.value.retry_after, info.value.retryable) == ("rate_limited", 7.0, True)


async def test_not_found(server, settings) -> None:
    for path in (TREE, POST, PAGE):
        server.route(path, Reply(404, b'{"error":{"message":"Post not found"}}', ORIGIN))
    with pytest.raises(ShareLinkError, match="not found") as info:
        await resolve_local(server, settings)
    assert info.value.reason == "not_found" and not info.value.retryable


async def test_origin_forbidden_is_not_public(server, settings) -> None:
    for path in (TREE, POST, PAGE):
        server.route(path, Reply(403, b'{"error":{"message":"Forbidden"}}', ORIGIN))
    with pytest.raises(ShareLinkError) as info:
        await resolve_local(server, settings)
    assert info.value.reason == "not_public"


async def test_generation_link(server, settings) -> None:
    server.route(f"/backend/public/generations/{GEN_ID}", Reply(200, fixture("generation_public.json", server), ORIGIN))
    got = await resolve_local(server, settings, f"https://sora.chatgpt.com/g/{GEN_ID}")
    assert got.method == "api:generation" and got.watermarked
    assert (got.width, got.height, got.duration_s) == (480, 480, 5.0)
    assert "88888888-8888-4888-8888-888888888888%2Fraw" in got.media_url


async def test_api_base_guarded(strict_settings) -> None:
    """Even with an injected api_base, requests go through the SSRF guard."""
    with pytest.raises(FetchError):
        await resolve(LINK, settings=strict_settings, api_base="http://127.0.0.1:9")


# --------------------------------------------------------------------------------- through the fetcher


@pytest.fixture
def local_sora(server, monkeypatch):
    monkeypatch.setattr(sharelinks, "SORA_API_BASE", server.base)
    monkeypatch.setattr(sharelinks, "SORA_MEDIA_HOSTS", ("127.0.0.1",))
    server.route(TREE, Reply(200, fixture("post_public.json", server), ORIGIN))
    return server


async def test_fetch_share_link_end_to_end(local_sora, settings, tmp_path, mp4) -> None:
    server = local_sora
    server.route(DOWNLOADABLE, Reply(200, mp4, {"Content-Type": "video/mp4"}))
    got = await fetch_video(LINK + "?psh=x", tmp_path / "sora.mp4", settings=settings)
    assert (tmp_path / "sora.mp4").read_bytes() == mp4
    assert got.share_link is not None and got.share_link.watermarked
    assert got.final_url.startswith(server.base + DOWNLOADABLE)
    assert server.paths()[-1].startswith(DOWNLOADABLE + "?se=")  # %2F kept as-is on the wire


async def test_fetch_share_link_expired_media_re_resolves_once(local_sora, settings, tmp_path, mp4) -> None:
    server = local_sora
    answers = [
        Reply(403, (FIXTURES / "azure_auth_failed.xml").read_bytes(), {"Content-Type": "application/xml"}),
        Reply(200, mp4),
    ]
    server.route(DOWNLOADABLE, lambda handler: answers.pop(0))
    got = await fetch_video(LINK, tmp_path / "sora.mp4", settings=settings)
    assert got.bytes == len(mp4)
    assert [p.split("?")[0] for p in server.paths()] == [TREE, DOWNLOADABLE, TREE, DOWNLOADABLE]


async def test_fetch_share_link_expired_twice(local_sora, settings, tmp_path) -> None:
    server = local_sora
    server.route(DOWNLOADABLE, Reply(403, (FIXTURES / "azure_auth_failed.xml").read_bytes()))
    with pytest.raises(ShareLinkError, match="link expired") as info:
        await fetch_video(LINK, tmp_path / "sora.mp4", settings=settings)
    assert info.value.reason == "expired"
    assert list(tmp_path.iterdir()) == []


async def test_fetch_share_link_media_redirect_off_host_refused(local_sora, settings, tmp_path, mp4) -> None:
    server = local_sora
    server.route(DOWNLOADABLE, Reply(302, headers={"Location": f"http://localhost:{server.port}/elsewhere.mp4"}))
    server.route("/elsewhere.mp4", Reply(200, mp4))
    with pytest.raises(ShareLinkError, match=r"not on 127\.0\.0\.1") as info:
        await fetch_video(LINK, tmp_path / "sora.mp4", settings=settings)
    assert info.value.reason == "bad_media_host"
    assert list(tmp_path.iterdir()) == []


async def test_fetch_share_link_error_surfaces(local_sora, settings, tmp_path) -> None:
    local_sora.route(TREE, Reply(200, fixture("post_tombstoned.json", local_sora), ORIGIN))
    with pytest.raises(ShareLinkError) as info:
        await fetch_video(LINK, tmp_path / "sora.mp4", settings=settings)
    assert info.value.reason == "deleted"


def test_fixtures_are_valid_json() -> None:
    for path in FIXTURES.glob("*.json"):
        json.loads(path.read_text())

"""The SSRF guard: verdicts (pure, no connections), DNS pinning and redirect hops against 127.0.0.1 only."""

from __future__ import annotations

import ipaddress

import httpcore
import httpx
import pytest

from vidgate.errors import FetchError, UnsafeURL
from vidgate.media import ssrf
from vidgate.media.ssrf import (
    GuardedAsyncBackend,
    check_url,
    guarded_async_client,
    guarded_request,
    is_public_ip,
    resolve_public,
)

from .loopback import Reply

PRIVATE_URLS = [
    # loopback, RFC 1918, CGNAT, link-local / cloud metadata, reserved, multicast, unspecified
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/x",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.1.1/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://0.0.0.0/",
    "http://0.1.2.3/",
    "http://[::]/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[febf::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456:789a::1]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
    # IPv4-mapped / IPv4-compatible
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a00:1]/",
    "http://[::127.0.0.1]/",
    "http://[::7f00:1]/",
    # 6to4, Teredo, NAT64 embedding private IPv4
    "http://[2002:7f00:1::1]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[2002:c0a8:101::1]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client = 127.0.0.1
    "http://[2001:0:a00:1:8000:63bf:3fff:fdd2]/",  # Teredo, server = 10.0.0.1
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::a00:1]/",
    # decimal / octal / hex / short IPv4
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://0X7F.0.0.1/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://3232235777/",
    "http://1.1.1.1.1/",
    # names
    "http://localhost/",
    "http://LOCALHOST:8080/",
    "http://localhost./",
    "http://foo.localhost/",
    "http://a.b.localhost./",
    "http://localhost.localdomain/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./",
    "http://metadata/",
    "http://printer.local/",
    "https://127.0.0.1/",
    "https://[::1]:8443/",
]

PUBLIC_URLS = [
    "http://93.184.216.34/",
    "https://93.184.216.34:8443/video.mp4",
    "https://[2606:4700::1]/",
    "http://[2606:4700:4700::1111]/x",
    "http://[::ffff:93.184.216.34]/",
    "http://[64:ff9b::5db8:d822]/",  # NAT64 of 93.184.216.34 (IPv6-only networks)
    "http://[2002:5db8:d822::1]/",  # 6to4 of 93.184.216.34
    "https://example.com/video.mp4?x=1&y=@z",
    "https://Example.COM./v.mp4",
    "https://bücher.example/v.mp4",
    "https://videos.openai.com/az/files/00000000-0000-4000-8000-000000000000%2Fraw?se=2030-01-08T00%3A00%3A00Z&sig=A%2Bb",
    "http://under_score.example.com:8080/p",
]

MALFORMED_URLS = [
    "ftp://example.com/v.mp4",
    "file:///etc/passwd",
    "gopher://example.com/",
    "javascript:alert(1)",
    "data:video/mp4;base64,AAAA",
    "//example.com/v.mp4",
    "example.com/v.mp4",
    "http:///v.mp4",
    "http://user:pw@example.com/",
    "http://user@example.com/",
    "http://@example.com/",
    "http://example.com\\@evil.com/",
    "http://exa mple.com/",
    "http://example.com/\nHost: evil",
    "http://ex%41mple.com/",
    "http://a..b/",
    "http://[fe80::1%25eth0]/",
    "http://example.com:99999/",
    "",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_forms_refused_without_connecting(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url)


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_urls_accepted(url: str) -> None:
    assert check_url(url).startswith(url.split(":", 1)[0].lower())


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_bad_scheme_userinfo_and_malformed_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url)
    with pytest.raises(UnsafeURL):  # allow_private never lifts these
        check_url(url, allow_private=True)


def test_check_url_normalises_and_limits_length() -> None:
    assert check_url("HTTPS://Example.COM/a%20b?q=1") == "https://example.com/a%20b?q=1"
    assert check_url("https://bücher.example/") == "https://xn--bcher-kva.example/"
    with pytest.raises(UnsafeURL, match="longer than 30"):
        check_url("https://example.com/" + "a" * 20, max_chars=30)


def test_allow_private_lifts_only_the_address_check() -> None:
    for url in ("http://127.0.0.1:8000/x", "http://localhost/", "http://[::1]/", "http://169.254.169.254/"):
        assert check_url(url, allow_private=True)
    for url in ("ftp://127.0.0.1/", "http://u:p@127.0.0.1/", "http://0x7f.1/"):
        with pytest.raises(UnsafeURL):
            check_url(url, allow_private=True)


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700::1", True),
        ("2a00:1450:4001::200e", True),
        (ipaddress.ip_address("1.1.1.1"), True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("100.100.100.100", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("::", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:7f00:1", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("2002:7f00:1::", False),
        ("64:ff9b::7f00:1", False),
        (ipaddress.ip_address("192.168.0.1"), False),
        ("not-an-ip", False),
        ("0x7f.1", False),
        ("", False),
    ],
)
def test_is_public_ip(ip: object, public: bool) -> None:
    assert is_public_ip(ip) is public  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ DNS


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Replace the OS resolver. Each name maps to a list of answers, consumed one per lookup."""
    answers: dict[str, list[list[str]]] = {}
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(ssrf, "_system_resolve", resolve)
    answers["__calls__"] = calls  # type: ignore[assignment]
    return answers


async def test_resolve_public(fake_dns: dict) -> None:
    fake_dns["public.test"] = [["93.184.216.34", "2606:4700::1", "93.184.216.34"]]
    fake_dns["evil.test"] = [["127.0.0.1"]]
    fake_dns["mixed.test"] = [["93.184.216.34", "10.0.0.7"]]
    fake_dns["meta.test"] = [["169.254.169.254"]]
    assert await resolve_public("public.test", 443, allow_private=False) == ["93.184.216.34", "2606:4700::1"]
    for host in ("evil.test", "mixed.test", "meta.test"):
        with pytest.raises(UnsafeURL, match="non-public address"):
            await resolve_public(host, 80, allow_private=False)
    assert await resolve_public("evil.test", 80, allow_private=True) == ["127.0.0.1"]
    # Literals and blocked names never reach the resolver.
    calls = fake_dns["__calls__"]
    before = len(calls)
    assert await resolve_public("93.184.216.34", 80, allow_private=False) == ["93.184.216.34"]
    with pytest.raises(UnsafeURL):
        await resolve_public("localhost", 80, allow_private=False)
    with pytest.raises(UnsafeURL):
        await resolve_public("[::ffff:127.0.0.1]", 80, allow_private=False)
    assert len(calls) == before


async def test_real_resolver_localhost_is_loopback_and_refused() -> None:
    addresses = await ssrf._system_resolve("localhost", 80)
    assert addresses and not any(is_public_ip(a) for a in addresses)
    with pytest.raises(UnsafeURL):
        await resolve_public("localhost", 80, allow_private=False)


async def test_hostname_resolving_to_loopback_refused_at_connect(server, strict_settings, fake_dns) -> None:
    server.route("/", Reply(200, b"secret"))
    fake_dns["rebind.test"] = [["127.0.0.1"]]
    async with guarded_async_client(strict_settings) as client:
        with pytest.raises(UnsafeURL, match="non-public"):
            await client.get(f"http://rebind.test:{server.port}/")
        with pytest.raises(UnsafeURL):  # by name, before any DNS
            await guarded_request(client, "GET", f"http://localhost:{server.port}/", settings=strict_settings)
        with pytest.raises(UnsafeURL):  # literal IP, even when the client is used directly
            await client.get(server.url("/"))
    assert server.seen == []


async def test_os_resolver_answer_checked_even_without_name_blocklist(server, strict_settings, monkeypatch) -> None:
    """With the name block list emptied, the real OS answer for `localhost` (loopback) is still refused."""
    monkeypatch.setattr(ssrf, "BLOCKED_HOSTNAMES", frozenset())
    monkeypatch.setattr(ssrf, "BLOCKED_SUFFIXES", ())
    server.route("/", Reply(200, b"secret"))
    assert check_url(f"http://localhost:{server.port}/")  # passes the syntactic check now...
    async with guarded_async_client(strict_settings) as client:
        with pytest.raises(UnsafeURL, match="localhost resolves to non-public address"):
            await guarded_request(client, "GET", f"http://localhost:{server.port}/", settings=strict_settings)
    assert server.seen == []


@pytest.fixture
def nat(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Pretend 93.184.216.34 is our loopback server: connections to it go to 127.0.0.1 instead.

    The guard still sees (and validates) the public address; only the final socket is translated, so
    every connect the guard makes is recorded.
    """
    connects: list[str] = []
    original = GuardedAsyncBackend._connect_ip

    async def connect_ip(self, address, port, **kw):
        connects.append(address)
        return await original(self, "127.0.0.1" if address == "93.184.216.34" else address, port, **kw)

    monkeypatch.setattr(GuardedAsyncBackend, "_connect_ip", connect_ip)
    return connects


async def test_dns_pinned_one_lookup_per_connection(server, strict_settings, fake_dns, nat) -> None:
    server.route("/hello", Reply(200, b"hi", {"Content-Type": "text/plain"}))
    # First lookup answers a public address, every later one a loopback address (DNS rebinding).
    fake_dns["public.test"] = [["93.184.216.34"], ["127.0.0.1"]]
    calls = fake_dns["__calls__"]
    url = f"http://public.test:{server.port}/hello"
    async with guarded_async_client(strict_settings) as client:
        first = await guarded_request(client, "GET", url, settings=strict_settings)
        second = await guarded_request(client, "GET", url, settings=strict_settings)  # same keep-alive connection
    assert first.text == second.text == "hi"
    assert calls == ["public.test"]  # resolved once, for the one connection
    assert nat == ["93.184.216.34"]  # connected to the validated address, never by name
    assert [s.headers["host"] for s in server.seen] == [f"public.test:{server.port}"] * 2

    # A new connection resolves again; the rebinding answer is refused before any socket is opened.
    async with guarded_async_client(strict_settings) as client:
        with pytest.raises(UnsafeURL, match=r"127\.0\.0\.1"):
            await client.get(url)
    assert calls == ["public.test", "public.test"]
    assert nat == ["93.184.216.34"]
    assert len(server.seen) == 2


async def test_tls_keeps_hostname_for_sni(server, strict_settings, fake_dns, monkeypatch) -> None:
    fake_dns["secure.test"] = [["93.184.216.34"]]
    seen: dict[str, object] = {}

    class Stream(httpcore.AsyncNetworkStream):
        async def start_tls(self, ssl_context, server_hostname=None, timeout=None):  # noqa: ASYNC109
            seen["sni"] = server_hostname
            raise httpcore.ConnectError("stop here")

        async def aclose(self) -> None:
            pass

    async def connect_ip(self, address, port, **kw):
        seen["address"] = address
        return Stream()

    monkeypatch.setattr(GuardedAsyncBackend, "_connect_ip", connect_ip)
    async with guarded_async_client(strict_settings) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("https://secure.test/")
    assert seen == {"address": "93.184.216.34", "sni": "secure.test"}


async def test_redirect_to_private_refused_on_the_hop(server, strict_settings, fake_dns, nat) -> None:
    fake_dns["public.test"] = [["93.184.216.34"]]
    port = server.port
    server.route("/to-loopback", Reply(302, headers={"Location": f"http://127.0.0.1:{port}/secret"}))
    server.route("/to-metadata", Reply(301, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    server.route("/to-localhost", Reply(307, headers={"Location": f"http://localhost:{port}/secret"}))
    server.route("/to-mapped", Reply(308, headers={"Location": f"http://[::ffff:7f00:1]:{port}/secret"}))
    server.route("/to-decimal", Reply(302, headers={"Location": f"http://2130706433:{port}/secret"}))
    server.route("/to-ftp", Reply(302, headers={"Location": "ftp://public.test/secret"}))
    server.route("/to-userinfo", Reply(302, headers={"Location": f"http://u:p@public.test:{port}/ok"}))
    server.route("/secret", Reply(200, b"secret"))
    async with guarded_async_client(strict_settings) as client:
        for path in (
            "/to-loopback",
            "/to-metadata",
            "/to-localhost",
            "/to-mapped",
            "/to-decimal",
            "/to-ftp",
            "/to-userinfo",
        ):
            with pytest.raises(UnsafeURL, match="Redirect from"):
                await guarded_request(client, "GET", f"http://public.test:{port}{path}", settings=strict_settings)
    assert "/secret" not in server.paths()
    assert "/ok" not in server.paths()


async def test_redirects_followed_and_capped(server, strict_settings, fake_dns, nat) -> None:
    fake_dns["public.test"] = [["93.184.216.34"]]
    port = server.port
    server.route("/a", Reply(302, headers={"Location": "/b"}))
    server.route("/b", Reply(303, headers={"Location": f"http://public.test:{port}/c"}))
    server.route("/c", Reply(200, b"done"))
    server.route("/loop", Reply(302, headers={"Location": "/loop"}))
    async with guarded_async_client(strict_settings) as client:
        response = await guarded_request(client, "GET", f"http://public.test:{port}/a", settings=strict_settings)
        assert response.status_code == 200 and response.text == "done"
        assert str(response.url) == f"http://public.test:{port}/c"
        with pytest.raises(FetchError, match="Too many redirects"):
            await guarded_request(client, "GET", f"http://public.test:{port}/loop", settings=strict_settings)
        redirect = await client.get(f"http://public.test:{port}/a")  # the client itself never follows
        assert redirect.status_code == 302
    assert server.paths().count("/loop") == strict_settings.max_redirects + 1


async def test_allow_private_setting_reaches_loopback(server, settings) -> None:
    server.route("/x", Reply(200, b"ok"))
    async with guarded_async_client(settings) as client:
        response = await guarded_request(client, "GET", server.url("/x"), settings=settings)
    assert response.text == "ok"


def test_guarded_client_refuses_unsafe_options(strict_settings) -> None:
    for kwargs in (
        {"follow_redirects": True},
        {"transport": httpx.AsyncHTTPTransport()},
        {"proxy": "http://p"},
        {"mounts": {}},
        {"trust_env": True},
    ):
        with pytest.raises(TypeError):
            guarded_async_client(strict_settings, **kwargs)


def test_settings_env_var(monkeypatch) -> None:
    from vidgate.settings import Settings

    monkeypatch.setenv("VIDGATE_ALLOW_PRIVATE_URLS", "1")
    assert Settings().allow_private_urls is True
    monkeypatch.delenv("VIDGATE_ALLOW_PRIVATE_URLS")
    assert Settings().allow_private_urls is False

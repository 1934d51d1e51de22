"""The one SSRF guard. Every outbound HTTP request vidgate makes on a user's behalf goes through here.

Two layers:

* :func:`check_url` — syntactic checks plus a verdict on literal IP hosts, no DNS. Used when a request
  is validated (a bad URL is refused before a task is created) and again on every redirect hop.
* :class:`GuardedAsyncBackend` — an ``httpcore`` network backend whose ``connect_tcp`` resolves the host
  **once**, refuses the connection unless every resolved address is public, and then connects to the
  validated IP itself. httpcore keeps using the *hostname* for TLS SNI, certificate checks and the
  ``Host`` header, so HTTPS still works, while a DNS-rebinding answer between "check" and "connect"
  cannot happen: there is only one resolution and the socket goes to the address that was checked.

:func:`guarded_async_client` builds an ``httpx.AsyncClient`` on that backend (no env proxies, no automatic
redirects) and :func:`guarded_request` follows redirects by hand, re-validating scheme and address on
every hop, up to ``Settings.max_redirects``.

``Settings.allow_private_urls`` (``VIDGATE_ALLOW_PRIVATE_URLS=1``; dev and tests only) lifts the
*address* checks (private/loopback/... IPs and names such as ``localhost``); the scheme, userinfo and
syntax checks always apply.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import typing
from collections.abc import Iterable

import anyio
import httpcore
import httpx

from vidgate.errors import FetchError, UnsafeURL
from vidgate.settings import Settings

__all__ = [
    "DEFAULT_MAX_URL_CHARS",
    "GuardedAsyncBackend",
    "GuardedAsyncTransport",
    "check_url",
    "guarded_async_client",
    "guarded_request",
    "is_public_ip",
    "resolve_public",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_MAX_URL_CHARS = 2048

# Names that must never be fetched (they resolve to the host itself or to a cloud metadata service).
BLOCKED_HOSTNAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# Special-use / private-use suffixes (RFC 6761 .localhost, ICANN .internal, mDNS .local, RFC 8375 .home.arpa).
BLOCKED_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")

_V4_BLOCKED = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", includes the unspecified address
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # CGNAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, incl. cloud metadata 169.254.169.254
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. 255.255.255.255
    )
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_COMPAT = ipaddress.IPv6Network("::/96")  # IPv4-compatible (deprecated); also holds :: and ::1
_V6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix, embeds an IPv4 address
_V6_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # local-use NAT64
_V6_BLOCKED = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments (Teredo 2001::/32 is judged separately first)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)

_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL_RE = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_DOTTED_QUAD_RE = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$")
_AUTHORITY_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*)")
_BAD_URL_CHARS_RE = re.compile(r"[\x00-\x20\x7f\\]")


# --------------------------------------------------------------------------------------------- verdicts


def _is_public_v4(ip: ipaddress.IPv4Address) -> bool:
    if any(ip in net for net in _V4_BLOCKED):
        return False
    if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    return ip.is_global


def _is_public_v6(ip: ipaddress.IPv6Address) -> bool:
    if ip.scope_id:
        return False  # zone ids only make sense for link-local addresses
    # Forms that embed an IPv4 address are judged by that address.
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return _is_public_v4(ip.ipv4_mapped)
    if ip in _V6_COMPAT:  # ::a.b.c.d, ::, ::1
        return False
    if ip in _V6_NAT64:
        return _is_public_v4(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _V6_NAT64_LOCAL:
        return False
    if ip.sixtofour is not None:  # 2002:aabb:ccdd::/48
        return _is_public_v4(ip.sixtofour)
    if ip.teredo is not None:  # 2001:0::/32 — (server, client)
        server, client = ip.teredo
        return _is_public_v4(server) and _is_public_v4(client)
    if ip not in _V6_GLOBAL_UNICAST:  # fe80::/10, fc00::/7, ff00::/8, 100::/64, ... all fall outside 2000::/3
        return False
    if any(ip in net for net in _V6_BLOCKED):
        return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_site_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def is_public_ip(ip: str | IPAddress) -> bool:
    """True when ``ip`` is a globally routable unicast address that is safe to connect to.

    Refuses loopback, RFC 1918, CGNAT, link-local (cloud metadata), unique-local, multicast, reserved,
    documentation and unspecified ranges, and IPv6 forms embedding such an IPv4 address (IPv4-mapped,
    IPv4-compatible, NAT64, 6to4, Teredo). Anything that is not a valid address is not public.
    """
    if isinstance(ip, str):
        try:
            ip = ipaddress.ip_address(ip)
        except ValueError:
            return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_public_v4(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        return _is_public_v6(ip)
    return False


# ----------------------------------------------------------------------------------------------- hosts


def _normalise_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host denotes literally, or None for a name. Raises UnsafeURL for odd numeric forms."""
    if ":" in host:
        if "%" in host:
            raise UnsafeURL(f"URL refused: IPv6 zone ids are not allowed ({host})")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeURL(f"URL refused: malformed IPv6 host {host!r}") from None
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    # WHATWG rule: a host whose last label is numeric is an IPv4 address. Only the canonical dotted quad
    # is accepted; decimal (2130706433), octal (0177.0.0.1), hex (0x7f.1) and short (127.1) forms are
    # refused outright, since resolvers and browsers disagree on what they mean.
    if labels and _NUMERIC_LABEL_RE.match(labels[-1]):
        if not _DOTTED_QUAD_RE.match(name):
            raise UnsafeURL(f"URL refused: non-canonical numeric IPv4 host {host!r}")
        return ipaddress.IPv4Address(name)
    return None


def _check_hostname(host: str) -> str:
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(_LABEL_RE.match(label) for label in name.split(".")):
        raise UnsafeURL(f"URL refused: invalid host name {host!r}")
    return name


def _is_blocked_name(name: str) -> bool:
    return name in BLOCKED_HOSTNAMES or name.endswith(BLOCKED_SUFFIXES)


def _check_host(host: str, *, allow_private: bool) -> IPAddress | None:
    """Validate a host without DNS. Returns the literal IP (if it is one); raises UnsafeURL when refused."""
    host = _normalise_host(host)
    if not host:
        raise UnsafeURL("URL refused: no host")
    ip = _literal_ip(host)
    if ip is not None:
        if not allow_private and not is_public_ip(ip):
            raise UnsafeURL(f"URL refused: {ip} is not a public address")
        return ip
    name = _check_hostname(host)
    if not allow_private and _is_blocked_name(name):
        raise UnsafeURL(f"URL refused: host {name!r} is local or a metadata service")
    return None


def check_url(url: str, *, allow_private: bool = False, max_chars: int = DEFAULT_MAX_URL_CHARS) -> str:
    """Syntactic and literal-IP checks, no DNS. Returns the normalised URL; raises :class:`UnsafeURL`.

    Refuses: non-http(s) schemes, userinfo (``user:pw@``), whitespace/control characters/backslashes,
    over-long URLs, invalid ports and host names, non-canonical numeric IPv4 hosts, and — unless
    ``allow_private`` — non-public literal IPs, ``localhost``/``*.localhost`` and metadata host names.
    A host *name* that resolves to a private address is caught later, at connect time.
    """
    if not isinstance(url, str) or not url:
        raise UnsafeURL("URL refused: empty URL")
    if len(url) > max_chars:
        raise UnsafeURL(f"URL refused: longer than {max_chars} characters")
    if _BAD_URL_CHARS_RE.search(url):
        raise UnsafeURL("URL refused: contains whitespace, control characters or backslashes")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise UnsafeURL(f"URL refused: malformed URL ({exc})") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise UnsafeURL(f"URL refused: scheme {parsed.scheme or '(none)'!r} is not http or https")
    authority = _AUTHORITY_RE.match(url)
    if parsed.userinfo or (authority is not None and "@" in authority.group(1)):
        raise UnsafeURL("URL refused: credentials (user:password@) are not allowed in URLs")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise UnsafeURL(f"URL refused: invalid port {parsed.port}")
    _check_host(parsed.raw_host.decode("ascii", "replace"), allow_private=allow_private)
    return str(parsed)


# ------------------------------------------------------------------------------------------------- DNS


async def _system_resolve(host: str, port: int) -> list[str]:
    """Resolve with the OS resolver. Module-level so tests can replace it."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"Could not resolve host {host!r}: {exc}") from None
    return [str(info[4][0]) for info in infos]


async def resolve_public(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` once and return its addresses, refusing (UnsafeURL) if **any** is not public.

    Literal IPs are returned as-is after the verdict. Names are checked against the local/metadata
    block list before any DNS query. With ``allow_private`` only the syntax is checked.
    """
    host = _normalise_host(host)
    ip = _check_host(host, allow_private=allow_private)
    if ip is not None:
        return [str(ip)]
    addresses: list[str] = []
    for addr in await _system_resolve(host, port):
        if addr not in addresses:
            addresses.append(addr)
    if not addresses:
        raise FetchError(f"Could not resolve host {host!r}: no addresses")
    if not allow_private:
        for addr in addresses:
            if not is_public_ip(addr):
                raise UnsafeURL(f"URL refused: {host} resolves to non-public address {addr}")
    return addresses


# ----------------------------------------------------------------------------------- httpcore backend


class GuardedAsyncBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, validates every address, connects to the validated IP (DNS pinning)."""

    def __init__(self, *, allow_private: bool = False, inner: httpcore.AsyncNetworkBackend | None = None):
        self.allow_private = allow_private
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await resolve_public(host, port, allow_private=self.allow_private)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"Resolving {host} timed out") from None
        last_exc: Exception | None = None
        for address in addresses:
            try:
                return await self._connect_ip(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_exc = exc
        assert last_exc is not None
        raise last_exc

    async def _connect_ip(
        self,
        address: str,
        port: int,
        *,
        timeout: float | None,  # noqa: ASYNC109
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.AsyncNetworkStream:
        """Open the TCP connection to an already validated IP (never a name)."""
        return await self._inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeURL("URL refused: unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedAsyncTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connection pool uses :class:`GuardedAsyncBackend` and no proxies."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        verify: typing.Any = True,
        cert: typing.Any = None,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        retries: int = 0,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=verify, cert=cert, trust_env=False, http1=http1, http2=http2, limits=limits)
        self.allow_private = allow_private
        self.network_backend = network_backend or GuardedAsyncBackend(allow_private=allow_private)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, cert=cert, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=http1,
            http2=http2,
            retries=retries,
            network_backend=self.network_backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Defence in depth for callers that use the client directly: syntax/literal-IP check per request.
        check_url(str(request.url), allow_private=self.allow_private, max_chars=1 << 20)
        return await super().handle_async_request(request)


_FORBIDDEN_CLIENT_KWARGS = frozenset({"transport", "mounts", "proxy", "proxies", "trust_env", "app"})
_TRANSPORT_KWARGS = ("verify", "cert", "http1", "http2", "limits")


def guarded_async_client(settings: Settings, **httpx_kwargs: typing.Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection goes through the SSRF guard.

    Redirects are not followed automatically (use :func:`guarded_request`); environment proxies and
    ``.netrc`` are ignored. ``timeout`` defaults to ``settings.fetch_timeout_seconds``. ``verify``,
    ``cert``, ``http1``, ``http2`` and ``limits`` configure the guarded transport; ``transport``,
    ``mounts``, ``proxy``, ``trust_env`` and ``follow_redirects=True`` are refused.
    """
    bad = _FORBIDDEN_CLIENT_KWARGS.intersection(httpx_kwargs)
    if bad:
        raise TypeError(f"guarded_async_client does not accept {sorted(bad)}")
    if httpx_kwargs.pop("follow_redirects", False):
        raise TypeError("guarded_async_client never follows redirects itself; use guarded_request()")
    transport_kwargs = {k: httpx_kwargs.pop(k) for k in _TRANSPORT_KWARGS if k in httpx_kwargs}
    httpx_kwargs.setdefault("timeout", settings.fetch_timeout_seconds)
    transport = GuardedAsyncTransport(allow_private=settings.allow_private_urls, **transport_kwargs)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False, **httpx_kwargs)


async def guarded_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    settings: Settings,
    stream: bool = False,
    max_redirects: int | None = None,
    **kw: typing.Any,
) -> httpx.Response:
    """Send a request, following redirects by hand and re-checking scheme/address on every hop.

    ``client`` should come from :func:`guarded_async_client` (that is what checks resolved addresses).
    ``kw`` goes to ``client.build_request`` (headers, params, json, content...). With ``stream=True``
    the returned response is open: read it with ``aiter_bytes()`` and ``await response.aclose()``.
    Raises :class:`UnsafeURL` for a refused URL or hop, :class:`FetchError` after too many redirects;
    transport problems surface as ``httpx.HTTPError``.
    """
    limit = settings.max_redirects if max_redirects is None else max_redirects
    allow = settings.allow_private_urls
    request = client.build_request(method, check_url(url, allow_private=allow, max_chars=settings.max_url_chars), **kw)
    hops = 0
    while True:
        response = await client.send(request, stream=True, follow_redirects=False)
        next_request = response.next_request if response.is_redirect else None
        if next_request is None:
            if not stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            return response
        await response.aclose()
        hops += 1
        if hops > limit:
            raise FetchError(f"Too many redirects fetching {url} (more than {limit})")
        target = str(next_request.url)
        try:
            check_url(target, allow_private=allow, max_chars=settings.max_url_chars)
        except UnsafeURL as exc:
            raise UnsafeURL(f"Redirect from {response.url} refused: {exc.message}") from None
        request = next_request

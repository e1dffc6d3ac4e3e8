"""The one URL guard every fetch goes through: which URLs may be fetched, and which addresses may be connected to.

Two policies. A local `build` may fetch anything http(s), loopback included (an editor's own test server). A fetch
for someone else — the webhook, and the worker that fetches what it accepted — may only reach public addresses:
the webhook must not become a way into the newsroom's network.

The check that counts is made on the address actually connected to (`open_pinned`): the host is resolved once,
every address it resolves to is vetted, and the socket is opened to a vetted address — the HTTP Host header and the
TLS server name stay the host's (see reader.py), on every redirect. A DNS answer that changes between a check and
the connection (rebinding) therefore gains nothing. `check_url` is the early check, for a clear 422 at submission.

An address is refused when it is, or maps to, loopback, private, link-local, shared (CGNAT), multicast,
unspecified, documentation, benchmarking or otherwise reserved space. IPv6 forms that carry an IPv4 address are
judged by that address: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated: refused outright),
NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48) and 6to4 (2002::/16). Python's own `is_global` misses
some of these, so they are unwrapped here before it is asked.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from audio_edition.errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
# What `is_global` says is global but no public web server lives on.
_NOT_PUBLIC_V6 = (ipaddress.ip_network("fec0::/10"),)  # deprecated site-local
MAX_URL_CHARS = 2048
PRIVATE_HINT = "set [distributed] allow_private_urls = true to allow it"


@dataclass(frozen=True)
class FetchUrl:
    """A URL the fetcher accepts: http(s), a host, a valid port."""

    url: str
    scheme: str
    host: str  # as written (brackets removed), lower-case
    port: int


def parse_fetch_url(url: str) -> FetchUrl:
    """The URL's parts, or InputError: http(s) only, a host, a port in range, no whitespace or control characters,
    no backslash (a parser-confusion trick: some clients read it as a slash, others as part of the user name)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise InputError(f"url must be a string of 1 to {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url) or "\\" in url:
        raise InputError("url contains spaces, control characters or a backslash")
    try:
        parts: SplitResult = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", a port out of range or not a number
        raise InputError(f"url is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError("url must be http or https")
    if not host:
        raise InputError("url has no host")
    if port == 0:
        raise InputError("url has an invalid port")
    return FetchUrl(url, scheme, host.lower(), port or (443 if scheme == "https" else 80))


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), else None."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why an address must not be connected to for someone else (None: it is public)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "a scoped (link-local) address"
        if ip in _IPV4_COMPATIBLE and int(ip) > 1:
            return "an IPv4-compatible IPv6 address (deprecated, never routed)"
        inner = embedded_ipv4(ip)
        if inner is not None:
            reason = refusal(inner)
            return f"{reason} inside an IPv6 address" if reason else None
        if ip in _NAT64_LOCAL or any(ip in net for net in _NOT_PUBLIC_V6):
            return "a private address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address HOST resolves to, in the resolver's order (a literal address resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise InputError(f"cannot resolve host {host}") from None
    seen: dict[str, IPAddress] = {}
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen[address] = ipaddress.ip_address(address)
    if not seen:
        raise InputError(f"cannot resolve host {host}")
    return list(seen.values())


@dataclass(frozen=True)
class UrlGuard:
    """The fetch policy. `allow_private=True` is the local build's: any http(s) address."""

    allow_private: bool = True

    def check_url(self, url: str) -> FetchUrl:
        """The early check: InputError unless the URL is well formed and (strict policy) its host is public."""
        target = parse_fetch_url(url)
        if not self.allow_private:
            self.vetted_addresses(target.host, target.port)
        return target

    def vetted_addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses HOST may be connected to; all of them must pass, or the host is refused."""
        addresses = resolve(host, port)
        if self.allow_private:
            return addresses
        for ip in addresses:
            reason = refusal(ip)
            if reason:
                raise InputError(f"url refused: {host} is {reason} ({ip})", PRIVATE_HINT)
        return addresses

    def open_pinned(self, host: str, port: int, timeout: float | None,
                    source_address: tuple[str, int] | None = None,
                    on_socket: Callable[[socket.socket], None] | None = None) -> socket.socket:
        """A TCP connection to a vetted address of HOST (the one check that DNS cannot change afterwards)."""
        errors: list[str] = []
        for ip in self.vetted_addresses(host, port):
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            if on_socket is not None:
                on_socket(sock)  # the fetch deadline can shut it down, even while it connects
            try:
                if timeout is not None:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect((str(ip), port))
                return sock
            except OSError as exc:
                errors.append(str(exc))
                sock.close()
        raise OSError(f"cannot connect to {host}: {errors[-1] if errors else 'no address'}")


def check_url_allowed(url: str, *, allow_private: bool = False) -> None:
    """InputError unless `url` is http(s) and every address its host resolves to is public (or allowed)."""
    UrlGuard(allow_private=allow_private).check_url(url)

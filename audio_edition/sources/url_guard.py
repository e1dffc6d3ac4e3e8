"""Which URLs may be fetched for someone else (the webhook, and the worker that fetches what it accepted): http(s)
only, and only hosts whose every address is public — the webhook must not become a way into the newsroom's
network."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from audio_edition.errors import InputError


# --- SSRF guard ----------------------------------------------------------------------------------------------
def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return ip.is_global and not ip.is_multicast


def check_url_allowed(url: str, *, allow_private: bool = False) -> None:
    """InputError unless `url` is http(s) and every address its host resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InputError("url must be http or https")
    if not parts.hostname:
        raise InputError("url has no host")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError("url has an invalid port") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InputError(f"cannot resolve host {parts.hostname}") from None
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or not all(_is_public(a) for a in addresses):
        raise InputError(f"url refused: {parts.hostname} is a loopback, private or link-local address",
                         "set [distributed] allow_private_urls = true to allow it")

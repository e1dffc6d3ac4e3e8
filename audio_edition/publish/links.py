"""The one safe-link filter: an article's URL lands in the feed, the JSON feed, ID3 WOAS/WXXX frames, chapters and
pages only when it is an absolute http(s) URL a browser or podcast app will treat as a plain link.

Anything else — `javascript:`, `data:`, `vbscript:`, `file:`, a scheme-relative `//host`, a URL with whitespace or
control characters (browsers strip them, so `java\\tscript:` is `javascript:`), one too long or that does not
parse — is dropped (None), and `script --report` says so.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_LINK_CHARS = 2048


def safe_link(url: str | None) -> str | None:
    """URL, trimmed, if it is a safe absolute http(s) link; else None."""
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > MAX_LINK_CHARS:
        return None
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F or ch.isspace() for ch in url) or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


def dropped_link_note(url: str | None) -> str | None:
    """The `script --report` line for an article URL that the filter drops (None when there is nothing to say)."""
    if not url or safe_link(url) is not None:
        return None
    shown = url if len(url) <= 80 else url[:77] + "…"
    return (f"link dropped: {shown!r} is not an http(s) URL; the feed, pages and tags will not carry it "
            "(the episode page links to itself instead)")

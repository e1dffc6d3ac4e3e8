"""Source stage: read an article from a file, stdin or an http(s) URL and decode it to text.

Charset order (the HTML standard's, plus validation): byte-order mark, HTTP `Content-Type` header,
`<meta charset>` / `http-equiv`, then detection with charset-normalizer. A declared charset is only trusted
when the bytes agree with it: a page that says ISO-8859-1 but is really UTF-8 (a common CMS bug) would
otherwise come out as mojibake ("Ã©").
"""

from __future__ import annotations

import codecs
import http.client
import logging
import re
import socket
import sys
import threading
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

from charset_normalizer import from_bytes

from audio_edition.config import LimitsConfig
from audio_edition.errors import InputError
from audio_edition.models import SourceDocument
from audio_edition.sources.url_guard import UrlGuard

log = logging.getLogger(__name__)

ARTICLE_SUFFIXES = (".html", ".htm", ".txt")
USER_AGENT = "audio-edition/0.1 (+https://example.org/audio-edition; article to podcast)"

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: the UTF-32 LE BOM starts with it
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_HTML_SNIFF = re.compile(
    r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<article[\s>]|<p[\s>]|<div[\s>]|<h1[\s>]|<meta\s",
    re.IGNORECASE,
)
# Control characters that never appear in real text (tab, LF, CR, FF are fine).
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


# --- where articles are --------------------------------------------------------------------------------------
def expand_sources(locations: list[str]) -> list[str]:
    """Turn the user's SOURCE arguments into article locations: a directory means every article in it."""
    result: list[str] = []
    for location in locations:
        if location == "-" or _is_url(location):
            result.append(location)
            continue
        path = Path(location).expanduser()
        if path.is_dir():
            found = sorted(
                str(p)
                for p in path.iterdir()
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in ARTICLE_SUFFIXES
                and not p.name.endswith(".expected.json")
            )
            if not found:
                raise InputError(f"no article (.html, .htm, .txt) in directory: {location}")
            result.extend(found)
        else:
            result.append(location)  # read_source reports a missing file in one line
    return result


def _is_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


# --- reading bytes -------------------------------------------------------------------------------------------
def read_source(location: str, limits: LimitsConfig | None = None,
                url_guard: UrlGuard | None = None) -> SourceDocument:
    """Read one article location (path, "-" or URL) into a decoded SourceDocument.

    `url_guard` is the fetch policy: the local build's (any http(s) address) by default; the webhook's worker
    passes the strict one, and every connection — redirects included — is pinned to an address it vetted."""
    limits = limits or LimitsConfig()
    if location == "-":
        data = _read_capped(sys.stdin.buffer, limits.max_input_bytes, "standard input")
        return _document(data, location, None, None, kind_hint=None)
    if _is_url(location):
        guard = url_guard or UrlGuard(allow_private=True)
        guard.check_url(location)
        data, final_url, content_type = _fetch(location, limits, guard)
        return _document(data, location, final_url, content_type, kind_hint=None)
    return _read_file(location, limits)


def _read_file(location: str, limits: LimitsConfig) -> SourceDocument:
    path = Path(location).expanduser()
    if not path.exists():
        raise InputError(f"file not found: {location}")
    if path.is_dir():
        raise InputError(f"{location} is a directory: give an article file (build accepts directories)")
    if not path.is_file():
        raise InputError(f"not a regular file: {location}")
    size = path.stat().st_size
    if size > limits.max_input_bytes:
        raise InputError(f"file too large: {location} is {size} bytes (limit {limits.max_input_bytes})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {location}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    hint = "html" if suffix in (".html", ".htm", ".xhtml") else "text" if suffix == ".txt" else None
    return _document(data, location, None, None, kind_hint=hint)


def _read_capped(stream, cap: int, what: str) -> bytes:
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise InputError(f"{what} is too large (limit {cap} bytes)")
    return data


class _BoundedRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, max_redirects: int, guard: UrlGuard) -> None:
        self.guard = guard
        self.max_redirections = max_redirects  # type: ignore[misc]  # urllib reads this per instance too
        self.max_repeats = max_redirects  # type: ignore[misc]

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not _is_url(newurl):
            raise InputError(f"refusing redirect to a non-http(s) address: {newurl}")
        self.guard.check_url(newurl)  # the early check; the connection to the new host is pinned again
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Deadline:
    """The whole fetch — every connection, redirect, header and body byte — within one deadline: when it passes,
    the fetch's sockets are shut down, which ends whatever read is waiting (a per-read timeout alone lets a server
    that drips a byte a second hold the fetch for ever)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            if self.expired:
                raise TimeoutError("fetch deadline passed")
            self._sockets.append(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # not connected yet, or already closed: a connect() in progress times out on its own

    def cancel(self) -> None:
        self._timer.cancel()


def _pinned(base: type, guard: UrlGuard, deadline: _Deadline):
    """An http.client connection class whose socket goes to a vetted address of the host; the Host header and the
    TLS server name stay the host's, since http.client takes both from `self.host`."""

    def connection(host, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, **kwargs):  # type: ignore[attr-defined]
        conn = base(host, timeout=timeout, **kwargs)

        def create_connection(address, timeout=None, source_address=None):
            conn_host, port = address
            return guard.open_pinned(conn_host, port, timeout if isinstance(timeout, (int, float)) else None,
                                     source_address, on_socket=deadline.track)

        conn._create_connection = create_connection
        return conn

    return connection


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, guard: UrlGuard, deadline: _Deadline) -> None:
        super().__init__()
        self._connection = _pinned(http.client.HTTPConnection, guard, deadline)

    def http_open(self, req):
        return self.do_open(self._connection, req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, guard: UrlGuard, deadline: _Deadline) -> None:
        super().__init__()
        self._connection = _pinned(http.client.HTTPSConnection, guard, deadline)

    def https_open(self, req):
        return self.do_open(self._connection, req, context=self._context)  # type: ignore[attr-defined]


def fetch_bytes(url: str, limits: LimitsConfig, guard: UrlGuard | None = None,
                accept: str = "*/*") -> tuple[bytes, str | None]:
    """Any other resource of an article (its image): the same guard, pinning, deadline and size cap as a page.
    Returns the bytes and the Content-Type."""
    guard = guard or UrlGuard(allow_private=True)
    guard.check_url(url)
    data, _, content_type = _fetch(url, limits, guard, accept)
    return data, content_type


def _fetch(url: str, limits: LimitsConfig, guard: UrlGuard,
           accept: str = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5") -> tuple[bytes, str, str | None]:
    """GET the URL with a per-read timeout, an overall deadline, a size cap and a bounded number of redirects,
    every connection pinned to an address the guard vetted."""
    deadline = _Deadline(limits.fetch_deadline_s)
    handlers: list[urllib.request.BaseHandler] = [
        _PinnedHTTPHandler(guard, deadline), _PinnedHTTPSHandler(guard, deadline),
        _BoundedRedirects(limits.max_redirects, guard),
    ]
    if not guard.allow_private:
        handlers.append(urllib.request.ProxyHandler({}))  # a proxy would resolve the host itself, unvetted
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={
        "User-Agent": USER_AGENT,
        "Accept": accept,
        "Accept-Language": "fr,en;q=0.5",
    })
    too_slow = (f"cannot fetch {url}: no complete answer within {limits.fetch_deadline_s:g} s "
                "(the fetch deadline, [limits] fetch_deadline_s)")
    try:
        with opener.open(request, timeout=min(limits.url_timeout_s, limits.fetch_deadline_s)) as response:
            length = response.headers.get("Content-Length")
            if length and length.isascii() and length.isdigit() and len(length) < 20 \
                    and int(length) > limits.max_input_bytes:
                raise InputError(f"page too large: {url} is {length} bytes (limit {limits.max_input_bytes})")
            data = _read_capped(response, limits.max_input_bytes, f"page {url}")
            if deadline.expired:  # the shutdown looks like the end of the body to a reader without a length
                raise InputError(too_slow)
            return data, response.geturl(), response.headers.get("Content-Type")
    except InputError:
        raise
    except Exception as exc:
        if deadline.expired:
            raise InputError(too_slow) from None
        raise _fetch_error(url, exc, limits) from None
    finally:
        deadline.cancel()


def _fetch_error(url: str, exc: Exception, limits: LimitsConfig) -> Exception:
    if isinstance(exc, urllib.error.HTTPError):
        if 300 <= exc.code < 400:
            return InputError(f"too many redirects fetching {url} (limit {limits.max_redirects})")
        return InputError(f"cannot fetch {url}: HTTP {exc.code} {exc.reason}")
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, InputError):  # the guard refused an address while connecting
            return reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return InputError(f"cannot fetch {url}: timed out after {limits.url_timeout_s:g} s")
        return InputError(f"cannot fetch {url}: {reason} (offline or unreachable?)")
    if isinstance(exc, TimeoutError):
        return InputError(f"cannot fetch {url}: timed out after {limits.url_timeout_s:g} s")
    if isinstance(exc, (OSError, ValueError, http.client.HTTPException)):  # reset, bad URL, bad status line
        return InputError(f"cannot fetch {url}: {exc}")
    return exc


# --- decoding ------------------------------------------------------------------------------------------------
def _document(data: bytes, location: str, url: str | None, content_type: str | None,
              kind_hint: str | None) -> SourceDocument:
    if not data.strip():
        raise InputError(f"empty input: {location}")
    header_charset, media_type = _parse_content_type(content_type)
    media_kind = _kind_from_media_type(media_type)  # first: "the server sent image/png" says more than "binary"
    text, encoding = decode_bytes(data, header_charset)
    if _looks_binary(text):
        raise InputError(f"not a text or HTML article (binary data): {location}")
    if not text.strip():
        raise InputError(f"empty input: {location}")
    kind = kind_hint or media_kind or ("html" if _HTML_SNIFF.search(text[:4096]) else "text")
    if kind == "text" and kind_hint is None and _HTML_SNIFF.search(text[:4096]):
        kind = "html"  # servers label HTML as text/plain more often than the reverse
    return SourceDocument(text=text, kind="html" if kind == "html" else "text", location=location, url=url,
                          encoding=encoding)


def _parse_content_type(content_type: str | None) -> tuple[str | None, str | None]:
    if not content_type:
        return None, None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return (charset if isinstance(charset, str) else None), message.get_content_type()


# A site's RSS/Atom feed is a valid `build` source (each item an article).
_FEED_MEDIA_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml",
                               "application/xml", "text/xml"})


def _kind_from_media_type(media_type: str | None) -> str | None:
    if media_type in ("text/html", "application/xhtml+xml"):
        return "html"
    if media_type == "text/plain":
        return "text"
    if media_type in _FEED_MEDIA_TYPES:
        return "html"  # markup; site_feed.is_feed() tells a feed from a page by its root element
    if media_type and not media_type.startswith("text/") and media_type != "application/octet-stream":
        raise InputError(f"not an article: the server sent {media_type}")
    return None


def _codec(name: str | None) -> str | None:
    """The Python codec for a declared charset; ISO-8859-1 and ASCII mean windows-1252 on the web."""
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().strip("'\"")).name
    except LookupError:
        log.debug("unknown charset %r ignored", name)
        return None
    return "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        if codec == "cp1252":  # five bytes are undefined in cp1252; true ISO-8859-1 decodes them
            try:
                return data.decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
                return None
        return None


def decode_bytes(data: bytes, header_charset: str | None = None) -> tuple[str, str]:
    """Decode a page: BOM, then the HTTP header, then <meta charset>, then detection. Returns (text, codec)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace"), codec
    is_utf8 = _strict(data, "utf-8") is not None
    for declared in (header_charset, _meta_charset(data)):
        named = _codec(declared)
        if named is None:
            continue
        codec = named
        if codec != "utf-8" and is_utf8 and not data.isascii():
            # Valid multi-byte UTF-8 almost never happens by chance in a single-byte charset:
            # the declaration is lying (CMS template says ISO-8859-1, the text is UTF-8).
            log.debug("declared charset %s contradicted by valid UTF-8 bytes", declared)
            return data.decode("utf-8"), "utf-8"
        text = _strict(data, codec)
        if text is not None:
            return text, codec
        log.debug("declared charset %s does not decode the bytes; detecting", declared)
    if is_utf8:
        return data.decode("utf-8"), "utf-8"
    return _detect(data)


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:8192])
    if not match:
        return None
    declared = match.group(1).decode("ascii", "replace")
    # A <meta> readable as ASCII cannot be in UTF-16/32: the HTML standard reads such a declaration as UTF-8.
    return "utf-8" if re.match(r"(?i)utf-?(16|32)", declared) else declared


# Single-byte Latin-script codecs (Python's names) that charset-normalizer picks for windows-1252 French text.
_LATIN_COUSINS = frozenset({
    "cp1250", "cp1254", "cp1257", "cp1258", "cp437", "cp850", "cp852", "cp858", "cp863", "cp865",
    "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-9", "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15",
    "iso8859-16", "mac-roman", "mac-latin2", "mac-iceland", "mac-turkish", "mac-croatian", "mac-romanian",
})
_FRENCH_LETTERS = frozenset("éèêëàâîïôûùüçœÉÈÊÀÂÎÔÛÇŒ«»’")


def _french_letters(text: str) -> int:
    return sum(ch in _FRENCH_LETTERS for ch in text)


def _detect(data: bytes) -> tuple[str, str]:
    best = from_bytes(data[:200_000]).best()
    if best is not None:
        codec = _codec(best.encoding) or best.encoding
        # Western pages that are not UTF-8 are nearly always windows-1252; charset-normalizer may pick a
        # cousin (cp1250, mac-roman, mac-latin2...) that turns "é" into another letter ("cafť"). Prefer cp1252
        # when it decodes, unless the cousin reads as more French (a real Mac Roman file, say).
        if codec in _LATIN_COUSINS:
            text, cousin = _strict(data, "cp1252"), _strict(data, codec)
            if text is not None and (cousin is None or _french_letters(text) >= _french_letters(cousin)):
                return text, "cp1252"
        text = _strict(data, codec)
        if text is not None:
            return text, codec
    text = _strict(data, "cp1252")
    if text is not None:
        return text, "cp1252"
    return data.decode("utf-8", errors="replace"), "utf-8"  # pragma: no cover - latin-1 always decodes


def _looks_binary(text: str) -> bool:
    sample = text[:65536]
    if "\x00" in sample:
        return True
    controls = len(_BINARY_CONTROL.findall(sample))
    replacement = sample.count("\ufffd")
    return (controls + replacement) > max(8, len(sample) // 50)

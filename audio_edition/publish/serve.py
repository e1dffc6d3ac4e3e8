"""`audio-edition serve`: preview the output folder locally, the way a web host would serve it.

Why not `http.server.SimpleHTTPRequestHandler`: it has no byte ranges (browsers need 206 responses to seek in an
MP3), guesses `.vtt`/`.mp3` types from the OS tables, follows symlinks out of the folder and serves dot-files (the
episode store lives in `output/.audio-edition/`). This handler serves GET and HEAD only, from DIR only:

- content types fixed for what we publish (audio/mpeg, text/vtt, application/json+chapters, application/rss+xml);
- `Range: bytes=…` → 206 + Content-Range, 416 + `Content-Range: bytes */size` when out of range, `Accept-Ranges`;
- ETag / Last-Modified, `If-None-Match` → 304, `If-Range` honoured;
- refuses `..`, encoded slashes and backslashes, NUL, dot-paths and anything whose real path leaves DIR (404,
  so a probe learns nothing about what exists outside).
"""

from __future__ import annotations

import email.utils
import errno
import html
import logging
import os
import re
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from audio_edition.errors import AudioEditionError, InputError

log = logging.getLogger(__name__)

CHUNK = 64 * 1024

# Types by exact file name first (chapters.json is a Podcasting 2.0 chapters file), then by suffix.
TYPES_BY_NAME = {
    "chapters.json": "application/json+chapters",
    "feed.xml": "application/rss+xml; charset=utf-8",
}
TYPES_BY_SUFFIX = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".json": "application/json",
    ".rss": "application/rss+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}

_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")  # ASCII digits only: int() also reads "٣" and "３"
MAX_POSITION_DIGITS = 18  # past this a byte position is beyond any file, and int() of 5,000 digits raises


def content_type(path: Path) -> str:
    name = path.name.lower()
    if name in TYPES_BY_NAME:
        return TYPES_BY_NAME[name]
    return TYPES_BY_SUFFIX.get(path.suffix.lower(), "application/octet-stream")


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """The (first, last) byte positions asked for; None to ignore the header (send 200); False if unsatisfiable.

    Only single ranges are honoured: RFC 9110 lets a server answer a multi-range request with the whole file.
    """
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match:
        return None
    first_s, last_s = (digits.lstrip("0") or ("0" if digits else "") for digits in match.groups())
    if not first_s and not last_s:
        return None
    if len(first_s) > MAX_POSITION_DIGITS:
        return False  # starts past the end of any file
    last_s = last_s if len(last_s) <= MAX_POSITION_DIGITS else str(10**MAX_POSITION_DIGITS)  # "to the end"
    if not first_s:  # suffix range: the last N bytes
        length = int(last_s)
        if length == 0 or size == 0:
            return False
        return max(0, size - length), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        return None  # syntactically invalid: ignore
    if first >= size:
        return False
    return first, min(last, size - 1)


def resolve_request_path(root: Path, raw_path: str) -> Path | None:
    """The file or folder under `root` a request path names, or None when it must not be served.

    `root` must already be resolved. Each segment is decoded on its own, so `%2f` cannot smuggle a separator
    and `%2e%2e` is seen as `..`.
    """
    path = urlsplit(raw_path).path
    if not path.startswith("/") or "\\" in path:
        return None
    parts: list[str] = []
    for raw in path.split("/"):
        if raw == "":
            continue
        segment = unquote(raw, errors="strict") if "%" in raw else raw
        if segment in (".", "..") or segment.startswith(".") or any(c in segment for c in "/\\\x00"):
            return None
        parts.append(segment)
    candidate = root.joinpath(*parts)
    try:
        real = candidate.resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if real != root and not real.is_relative_to(root):
        return None  # a symlink pointing out of DIR
    if any(part.startswith(".") for part in real.relative_to(root).parts):
        return None  # a symlink pointing into the store
    return real


class PreviewHandler(BaseHTTPRequestHandler):
    """GET/HEAD handler for one folder. `server.root` is the resolved folder."""

    server_version = "audio-edition-preview"
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a client may take per read: an idle or slowloris connection does not keep its thread

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def log_message(self, format: str, *args) -> None:
        log.info("%s %s", self.address_string(), format % args)

    # --- helpers ---------------------------------------------------------------------------------------------
    def _serve(self, send_body: bool) -> None:
        root: Path = self.server.root  # type: ignore[attr-defined]
        if self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0").strip() != "0":
            # GET and HEAD carry no body; an unread one must not be parsed as the next request on this connection
            self.close_connection = True
        try:
            target = resolve_request_path(root, self.path)
        except UnicodeDecodeError:
            target = None
        if target is None:
            self._error(HTTPStatus.NOT_FOUND, send_body)
            return
        if target.is_dir():
            url_path = urlsplit(self.path).path
            if not url_path.endswith("/"):
                self._redirect(url_path + "/", send_body)
                return
            index = target / "index.html"
            if index.is_file():
                target = index
            else:
                self._listing(target, url_path, send_body)
                return
        if not target.is_file():
            self._error(HTTPStatus.NOT_FOUND, send_body)
            return
        self._send_file(target, send_body)

    def _send_file(self, target: Path, send_body: bool) -> None:
        try:
            handle = target.open("rb")
        except OSError:
            self._error(HTTPStatus.NOT_FOUND, send_body)
            return
        with handle:
            stat = os.fstat(handle.fileno())
            size = stat.st_size
            etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
            last_modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
            common = {
                "Accept-Ranges": "bytes",
                "ETag": etag,
                "Last-Modified": last_modified,
                "Cache-Control": "no-cache",  # a preview: always revalidate, so rebuilds show at once
                "X-Content-Type-Options": "nosniff",
            }
            if self.headers.get("If-None-Match") in (etag, "*"):
                self._headers(HTTPStatus.NOT_MODIFIED, common)
                return
            wanted: tuple[int, int] | bool | None = None
            range_header = self.headers.get("Range")
            if range_header and self.headers.get("If-Range", etag) in (etag, last_modified):
                wanted = parse_range(range_header, size)
            if wanted is False:
                self._headers(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                              {**common, "Content-Range": f"bytes */{size}", "Content-Length": "0"})
                return
            if wanted:
                first, last = wanted  # type: ignore[misc]
                status = HTTPStatus.PARTIAL_CONTENT
                common["Content-Range"] = f"bytes {first}-{last}/{size}"
            else:
                first, last = 0, size - 1
                status = HTTPStatus.OK
            length = last - first + 1 if size else 0
            self._headers(status, {**common, "Content-Type": content_type(target), "Content-Length": str(length)})
            if not send_body or length == 0:
                return
            handle.seek(first)
            remaining = length
            try:
                while remaining > 0:
                    chunk = handle.read(min(CHUNK, remaining))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    remaining -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                # Browsers drop media requests all the time when the listener seeks: not an error.
                self.close_connection = True

    def _headers(self, status: HTTPStatus, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, status: HTTPStatus, send_body: bool) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self._headers(status, {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body)),
                               "X-Content-Type-Options": "nosniff"})
        if send_body:
            self.wfile.write(body)

    def _redirect(self, location: str, send_body: bool) -> None:
        self._headers(HTTPStatus.MOVED_PERMANENTLY, {"Location": quote(location, safe="/%")})

    def _listing(self, folder: Path, url_path: str, send_body: bool) -> None:
        """A plain, escaped list of what a folder holds (dot-entries hidden): handy to find episodes."""
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        items = "\n".join(
            f'<li><a href="{html.escape(quote(p.name + ("/" if p.is_dir() else "")))}">'
            f'{html.escape(p.name)}{"/" if p.is_dir() else ""}</a></li>'
            for p in entries
        )
        title = html.escape(f"Index de {unquote(url_path)}")
        body = (
            f'<!doctype html><html lang="fr"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>'
            f"<body><main><h1>{title}</h1><ul>{items}</ul></main></body></html>\n"
        ).encode()
        self._headers(HTTPStatus.OK, {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body)),
                                      "Cache-Control": "no-cache"})
        if send_body:
            self.wfile.write(body)


class PreviewServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one folder. `url` is where to point a browser."""

    daemon_threads = True  # a listener still downloading never holds up Ctrl+C

    def __init__(self, directory: Path, host: str, port: int) -> None:
        self.root = directory.resolve()
        super().__init__((host, port), PreviewHandler)

    def handle_error(self, request, client_address) -> None:
        """A browser that hangs up (it seeks, closes the tab, gives up on a preload) is one short line, not the
        socketserver traceback; anything else is still reported in full."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.info("%s closed the connection (%s)", client_address[0], type(error).__name__)
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"


def make_server(directory: Path, host: str = "127.0.0.1", port: int = 0) -> PreviewServer:
    """A bound, not yet running server (port 0 picks a free port). Call `serve_forever()` / `shutdown()`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"cannot serve {directory}: no such folder", "build first, or give the output folder")
    try:
        return PreviewServer(directory, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AudioEditionError(f"port {port} is already in use on {host}", "pick another one with --port") from None
        raise AudioEditionError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def start_in_thread(directory: Path, host: str = "127.0.0.1", port: int = 0) -> PreviewServer:
    """Start a server in a daemon thread (for tests and embedding); stop it with `server.shutdown()`."""
    server = make_server(directory, host, port)
    threading.Thread(target=server.serve_forever, name="audio-edition-serve", daemon=True).start()
    return server


def serve_directory(directory: Path, host: str, port: int) -> None:
    """The `serve` command: serve DIR until Ctrl+C."""
    server = make_server(directory, host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving %s on %s: anyone on the network can read it", directory, host)
    # This is the CLI's foreground loop, so it tells the user where to look (stderr, like any server log).
    sys.stderr.write(f"Serving {server.root} at {server.url} (Ctrl+C to stop)\n")
    sys.stderr.flush()
    # Like any preview server, one line per request (and per dropped connection) on stderr.
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    # SIGTERM (systemd, docker stop, kill) stops it as Ctrl+C does: at once, with the port released.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    sys.stderr.write("Stopped.\n")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt

"""The CMS webhook: `audio-edition serve --api` (stdlib http.server; two routes do not need a framework).

    POST /articles   {"url": "https://…"} or {"html": "<html>…", "url": optional canonical URL}  → 202 {job_id}
    GET  /jobs/{id}  → the job's state (queued, running, built, published, unchanged, failed, fanned-out)
    GET  /openapi.json, GET /healthz  (no token needed)

Security: a bearer token (config or AUDIO_EDITION_API_TOKEN) compared in constant time; 401 says nothing about
why; a request-size cap (413, checked on Content-Length before reading); JSON errors only; binds 127.0.0.1 unless
told otherwise. A URL source is refused when its host resolves to a loopback, private, link-local or otherwise
non-public address (every address it resolves to is checked, here and again by the worker that fetches it),
unless [distributed] allow_private_urls = true — the webhook must not become a way into the newsroom's network.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from audio_edition.config import Config
from audio_edition.errors import InputError
from audio_edition.scale.jobs import registry, require_broker
from audio_edition.scale.queue import make_app, submit
from audio_edition.sources.url_guard import check_url_allowed

log = logging.getLogger(__name__)

_JOB_PATH = re.compile(r"^/jobs/([0-9a-f]{32})$")
MAX_HTML_CHARS_HINT = "raise [distributed] max_body_bytes"


# --- OpenAPI -------------------------------------------------------------------------------------------------
def openapi_document() -> dict:
    """The OpenAPI 3 description (shipped in the package as data/openapi.json; docs/openapi.json is a copy)."""
    return json.loads(resources.files("audio_edition").joinpath("data/openapi.json").read_text(encoding="utf-8"))


# --- the server ----------------------------------------------------------------------------------------------
class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], config: Config) -> None:
        self.config = config
        self.settings = require_broker(config)
        if not self.settings.api_token:
            raise InputError("the webhook needs a bearer token",
                             "set AUDIO_EDITION_API_TOKEN or [distributed] api_token")
        if len(self.settings.api_token) < 16:
            raise InputError("the API token is too short (16 characters at least)")
        self.app = make_app(config)
        self.jobs = registry(config)
        super().__init__(address, ApiHandler)


class ApiHandler(BaseHTTPRequestHandler):
    server: ApiServer
    server_version = "audio-edition"
    sys_version = ""  # no Python version in the Server header
    protocol_version = "HTTP/1.1"

    # --- plumbing
    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unsupported method, URI too long) as JSON too."""
        self.close_connection = True
        status = HTTPStatus(code)
        self._json(status, {"error": status.phrase.lower(), "message": message or status.description})

    def _error(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": status.phrase.lower(), "message": message}, headers)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        expected = self.server.settings.api_token or ""
        # compare_digest of two SHA-256 digests: constant time, and equal lengths, so not even the token's
        # length shows in the timing
        ok = hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(),
                                 hashlib.sha256(expected.encode()).digest()) and scheme.lower() == "bearer"
        if not ok:
            self.close_connection = True
            self._error(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required",
                        {"WWW-Authenticate": 'Bearer realm="audio-edition"'})
        return ok

    # --- routes
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/openapi.json":
            self._json(HTTPStatus.OK, openapi_document())
            return
        if path == "/healthz":
            self._json(HTTPStatus.OK, {"status": "ok"})
            return
        match = _JOB_PATH.match(path)
        if path.startswith("/jobs/"):
            if not self._authorized():
                return
            job = self.server.jobs.get(match.group(1)) if match else None
            if job is None:
                self._error(HTTPStatus.NOT_FOUND, "no such job")
                return
            self._json(HTTPStatus.OK, job)
            return
        self._error(HTTPStatus.NOT_FOUND, "no such route")

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/articles":
            self.close_connection = True
            self._error(HTTPStatus.NOT_FOUND, "no such route")
            return
        if not self._authorized():
            return
        cap = self.server.settings.max_body_bytes
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
            return
        if length_header is None or not length_header.isdigit():
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return
        length = int(length_header)
        if length > cap:
            self.close_connection = True  # the body is not read
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {cap} bytes")
            return
        if "json" not in self.headers.get("Content-Type", "").lower():
            self.close_connection = True
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
            return
        try:
            body = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._error(HTTPStatus.BAD_REQUEST, "the body is not valid JSON")
            return
        try:
            payload, source = self._payload(body)
        except InputError as exc:
            self._error(HTTPStatus.UNPROCESSABLE_ENTITY, exc.message)
            return

        job_id = submit(self.server.config, payload, source, app=self.server.app, jobs=self.server.jobs)
        self._json(HTTPStatus.ACCEPTED, {"job_id": job_id, "status_url": f"/jobs/{job_id}"},
                   {"Location": f"/jobs/{job_id}"})

    def _payload(self, body: Any) -> tuple[dict, str]:
        if not isinstance(body, dict):
            raise InputError("expected a JSON object with url or html")
        unknown = sorted(set(body) - {"url", "html"})
        if unknown:
            raise InputError(f"unknown field {unknown[0]!r}: give url or html")
        url, html = body.get("url"), body.get("html")
        if url is not None and (not isinstance(url, str) or len(url) > 2048):
            raise InputError("url must be a string (2048 characters at most)")
        if html is not None:
            if not isinstance(html, str) or not html.strip():
                raise InputError("html must be a non-empty string")
            # the canonical URL of the given HTML: never fetched, but it must look right
            if url is not None and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname):
                raise InputError("url must be an http(s) URL")
            # untrusted: a feed posted as "html" must not make a worker fetch the links inside it
            return {"html": html, "url": url, "untrusted": True}, url or "webhook (html)"
        if url is None:
            raise InputError("give url or html")
        check_url_allowed(url, allow_private=self.server.settings.allow_private_urls)
        return {"url": url, "untrusted": True}, url


def make_server(config: Config, host: str = "127.0.0.1", port: int = 8000) -> ApiServer:
    try:
        return ApiServer((host, port), config)
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve_api(config: Config, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the webhook until interrupted."""
    server = make_server(config, host, port)
    log.warning("webhook listening on http://%s:%d/ (POST /articles, GET /jobs/{id}, GET /openapi.json)",
                host, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()

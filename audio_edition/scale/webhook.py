"""The CMS webhook: `audio-edition serve --api`, a Starlette application on uvicorn (its h11 HTTP/1.1 parser).

    POST /articles   {"url": "https://…"} or {"html": "<html>…", "url": optional canonical URL}  → 202 {job_id}
    GET  /jobs/{id}  → the job's state (queued, running, built, published, unchanged, failed, fanned-out)
    GET  /openapi.json, GET /healthz  (no token needed)

Why a production stack: the standard library's server has a listen backlog of 5, a thread per connection and no
timeout for a client that never finishes its headers. Here uvicorn's asyncio loop holds idle connections for the
cost of a socket, h11 refuses malformed and conflicting `Content-Length` headers, and `_HeaderTimeoutProtocol`
closes a connection whose request headers are not complete within `[distributed] header_timeout_s`.

Security: a bearer token (config or AUDIO_EDITION_API_TOKEN) compared in constant time; 401 says nothing about
why; the size cap checked on Content-Length before the body is read (413), the body read within
`body_timeout_s` (408); `Transfer-Encoding` refused (411: send a length); `application/json` exactly (415); JSON
parsed with depth, number and size limits (400); every error a JSON body; binds 127.0.0.1 unless told otherwise.
A URL is refused unless every address its host resolves to is public (sources/url_guard.py; the worker that
fetches it connects only to a vetted address), unless [distributed] allow_private_urls = true.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
from email.message import Message
from http import HTTPStatus
from importlib import resources
from typing import Any

import anyio
import h11
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from audio_edition.config import Config, DistributedConfig
from audio_edition.errors import InputError
from audio_edition.scale.jobs import JobRegistry, registry, require_broker
from audio_edition.scale.queue import make_app, submit
from audio_edition.sources.url_guard import check_url_allowed, parse_fetch_url

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 32  # {"url": …} is depth 1; nothing a CMS sends comes near
MAX_NUMBER_CHARS = 64  # no field is a number: a longer one is an attack on int()
BACKLOG = 2048
MAX_CONNECTIONS = 4096  # above this, uvicorn answers 503 at once
MAX_HEADER_BYTES = 16 * 1024  # request line + headers; h11 answers 400 above


# --- OpenAPI -------------------------------------------------------------------------------------------------
def openapi_document() -> dict:
    """The OpenAPI 3 description (shipped in the package as data/openapi.json; docs/openapi.json is a copy)."""
    return json.loads(resources.files("audio_edition").joinpath("data/openapi.json").read_text(encoding="utf-8"))


# --- errors --------------------------------------------------------------------------------------------------
class ApiError(Exception):
    """A client's mistake: answered as JSON with its status, never logged as a traceback."""

    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None,
                 close: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.headers, self.close = status, message, dict(headers or {}), close


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   close: bool = False) -> JSONResponse:
    phrase = HTTPStatus(status).phrase.lower()
    sent = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **(headers or {})}
    if close:  # the body was not read: the connection cannot carry another request
        sent["Connection"] = "close"
    return JSONResponse({"error": phrase, "message": message}, status_code=status, headers=sent)


def _json_response(status: int, body: dict, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status,
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **(headers or {})})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers, exc.close)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, method not allowed) as JSON too."""
    assert isinstance(exc, HTTPException)
    message = {404: "no such route", 405: "method not allowed on this route"}.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, message, dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("webhook: %s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(500, "internal error (see the server log)")


# --- request checks ------------------------------------------------------------------------------------------
def check_token(request: Request, expected: str) -> None:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest of two SHA-256 digests: constant time, and equal lengths, so not even the token's length
    # shows in the timing
    ok = hmac.compare_digest(hashlib.sha256(given.strip().encode("utf-8", "replace")).digest(),
                             hashlib.sha256(expected.encode()).digest())
    if not (ok and scheme.lower() == "bearer"):
        raise ApiError(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required",
                       {"WWW-Authenticate": 'Bearer realm="audio-edition"'}, close=True)


def is_json_media_type(value: str) -> bool:
    """Exactly application/json, with no charset or UTF-8 (`text/json-evil`, `application/jsonx` are not JSON)."""
    message = Message()
    message["content-type"] = value
    if not value or message.get_content_type() != "application/json":
        return False  # Message says text/plain for anything unparsable
    charset = message.get_param("charset")
    return charset is None or (isinstance(charset, str) and charset.lower() in ("utf-8", "utf8"))


def declared_length(request: Request, cap: int) -> int:
    if "transfer-encoding" in request.headers:
        raise ApiError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not chunked", close=True)
    values = request.headers.getlist("content-length")
    if not values:
        raise ApiError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required", close=True)
    raw = values[0]  # h11 has already refused conflicting or malformed lengths
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(HTTPStatus.BAD_REQUEST, "Content-Length is not a number", close=True)
    length = int(raw)
    if length > cap:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {cap} bytes", close=True)
    return length


async def read_body(request: Request, length: int, timeout_s: float) -> bytes | None:
    """The body, within the body timeout; None when the client left."""
    chunks: list[bytes] = []
    received = 0
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in request.stream():
                received += len(chunk)
                if received > length:  # h11 stops at Content-Length; this is belt and braces
                    raise ApiError(HTTPStatus.BAD_REQUEST, "body longer than its Content-Length", close=True)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(HTTPStatus.REQUEST_TIMEOUT, f"the body did not arrive within {timeout_s:g} s",
                       close=True) from None
    except ClientDisconnect:
        return None
    return b"".join(chunks)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("number too long")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("number too long")
    return float(text)


def parse_json(data: bytes) -> Any:
    """JSON with limits: UTF-8, nesting at most MAX_JSON_DEPTH, numbers at most MAX_NUMBER_CHARS characters, no
    NaN/Infinity. Deeper nesting stops the C parser cleanly (RecursionError)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(HTTPStatus.BAD_REQUEST, "the body is not UTF-8") from None
    too_deep = ApiError(HTTPStatus.BAD_REQUEST, f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_float=_bounded_float, parse_constant=_refuse_constant)
    except RecursionError:  # the C parser counts its depth against the recursion limit and stops cleanly
        raise too_deep from None
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, "the body is not valid JSON") from None
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:  # iterative: the walk itself must not recurse
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise too_deep
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return value


def article_payload(body: Any, allow_private: bool) -> tuple[dict, str]:
    """The job payload and its label, or InputError (422) saying what is wrong."""
    if not isinstance(body, dict):
        raise InputError("expected a JSON object with url or html")
    unknown = sorted(set(body) - {"url", "html"})
    if unknown:
        raise InputError(f"unknown field {unknown[0][:80]!r}: give url or html")
    url, html = body.get("url"), body.get("html")
    if url is not None and (not isinstance(url, str) or len(url) > 2048):
        raise InputError("url must be a string (2048 characters at most)")
    if html is not None:
        if not isinstance(html, str) or not html.strip():
            raise InputError("html must be a non-empty string")
        if url is not None:  # the canonical URL of the given HTML: never fetched, but it must look right
            parse_fetch_url(url)
        # untrusted: a feed posted as "html" must not make a worker fetch the links inside it
        return {"html": html, "url": url, "untrusted": True}, url or "webhook (html)"
    if url is None:
        raise InputError("give url or html")
    check_url_allowed(url, allow_private=allow_private)
    return {"url": url, "untrusted": True}, url


# --- the application -----------------------------------------------------------------------------------------
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def create_app(config: Config, settings: DistributedConfig, jobs: JobRegistry, celery_app: Any) -> Any:
    token = settings.api_token or ""

    async def post_articles(request: Request) -> Response:
        check_token(request, token)
        length = declared_length(request, settings.max_body_bytes)
        if not is_json_media_type(request.headers.get("content-type", "")):
            raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json", close=True)
        data = await read_body(request, length, settings.body_timeout_s)
        if data is None:
            log.info("webhook: the client left before sending its body")
            return Response(status_code=400)
        body = parse_json(data)
        try:
            payload, source = await run_in_threadpool(article_payload, body, settings.allow_private_urls)
        except InputError as exc:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, exc.message) from None
        job_id = await run_in_threadpool(submit, config, payload, source, app=celery_app, jobs=jobs)
        return _json_response(HTTPStatus.ACCEPTED, {"job_id": job_id, "status_url": f"/jobs/{job_id}"},
                              {"Location": f"/jobs/{job_id}"})

    async def get_job(request: Request) -> Response:
        check_token(request, token)
        job_id = request.path_params["job_id"]
        job = await run_in_threadpool(jobs.get, job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "no such job")
        return _json_response(HTTPStatus.OK, job)

    async def get_openapi(request: Request) -> Response:
        return _json_response(HTTPStatus.OK, openapi_document())

    async def healthz(request: Request) -> Response:
        return _json_response(HTTPStatus.OK, {"status": "ok"})

    routes = [
        Route("/articles", post_articles, methods=["POST"]),
        Route("/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/openapi.json", get_openapi, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={
        ApiError: _api_error, HTTPException: _http_error, Exception: _server_error,
    })
    return _HeaderCap(app)


class _HeaderCap:
    """431 for a header block over MAX_HEADER_BYTES: h11's own cap only holds while the headers are incomplete,
    so a large block that arrives in one read would otherwise pass."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            response = error_response(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                                      f"request headers over {MAX_HEADER_BYTES} bytes", close=True)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# --- the server ----------------------------------------------------------------------------------------------
class _HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request headers: a client that opens a connection, or starts a
    request, and does not finish its headers within `header_timeout_s` is disconnected (slowloris). Its 400s are
    JSON, like every other error."""

    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("webhook: closed a connection whose request headers took over %g s", self.header_timeout_s)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()  # the headers are in; the application's body timeout takes over

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """A request h11 could not parse (bad or conflicting Content-Length, a header too large…)."""
        body = json.dumps({"error": "bad request", "message": "malformed HTTP request"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request")))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:
            pass  # a response had already started: just close
        self.transport.close()


class ApiServer:
    """The webhook bound to its socket, not yet serving: `serve_forever()` (blocks), `shutdown()` from another
    thread, `server_address`. Port 0 picks a free port."""

    def __init__(self, config: Config, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.config = config
        self.settings = require_broker(config)
        if not self.settings.api_token:
            raise InputError("the webhook needs a bearer token",
                             "set AUDIO_EDITION_API_TOKEN or [distributed] api_token")
        if len(self.settings.api_token) < 16:
            raise InputError("the API token is too short (16 characters at least)")
        self.jobs = registry(config)
        self.app = create_app(config, self.settings, self.jobs, make_app(config))
        self.socket = _listen(host, port)
        self.server_address = self.socket.getsockname()[:2]
        protocol = type("HeaderTimeoutProtocol", (_HeaderTimeoutProtocol,),
                        {"header_timeout_s": self.settings.header_timeout_s})
        self.uvicorn = uvicorn.Server(uvicorn.Config(
            self.app, http=protocol, lifespan="off", log_config=None, access_log=False,
            backlog=BACKLOG, limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES, server_header=False, proxy_headers=False,
        ))
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        try:
            self.uvicorn.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        self.uvicorn.should_exit = True
        self._stopped.wait(10)

    def server_close(self) -> None:
        self.socket.close()


def _listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        hint = "pick another one with --port" if exc.errno == errno.EADDRINUSE else None
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint) from None
    sock.setblocking(False)
    return sock


def make_server(config: Config, host: str = "127.0.0.1", port: int = 8000) -> ApiServer:
    return ApiServer(config, host, port)


def serve_api(config: Config, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the webhook until interrupted (SIGINT/SIGTERM: uvicorn finishes the requests in flight)."""
    server = make_server(config, host, port)
    log.warning("webhook listening on http://%s:%d/ (POST /articles, GET /jobs/{id}, GET /openapi.json)",
                host, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()

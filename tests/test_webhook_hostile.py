"""The webhook under attack, on loopback: `audio-edition serve --api` as a user runs it, on a real Redis.

Every hostile request gets its 4xx (or the right 2xx) with a JSON body — never an empty reply — and the server's
log shows no traceback for any of them. A burst of 300 POSTs over 20 connections opened at once is accepted whole;
1,000 connections that never finish their headers neither keep a normal client waiting nor stay open past the
header timeout.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from services import free_port, redis_url  # noqa: F401 - session fixture

from audio_edition.scale.jobs import JobRegistry

TOKEN = "hostile-suite-token-0123456789abcdef"
HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 2
AUTH = f"Authorization: Bearer {TOKEN}\r\n".encode()


@pytest.fixture(scope="module")
def webhook(redis_url, tmp_path_factory):  # noqa: F811
    folder: Path = tmp_path_factory.mktemp("webhook")
    (folder / "audio-edition.toml").write_text(
        f"[distributed]\nheader_timeout_s = {HEADER_TIMEOUT_S}\nbody_timeout_s = {BODY_TIMEOUT_S}\n"
        f"output_dir = \"{folder / 'out'}\"\n", encoding="utf-8")
    port = free_port()
    log = (folder / "webhook.log").open("wb")
    env = dict(os.environ, AUDIO_EDITION_BROKER_URL=redis_url, AUDIO_EDITION_API_TOKEN=TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "audio_edition", "serve", "--api", "--port", str(port)],
                            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (folder / "webhook.log").read_text()
            time.sleep(0.2)
    yield {"port": port, "log": folder / "webhook.log", "proc": proc}
    proc.terminate()
    proc.wait(timeout=15)
    log.close()


def exchange(port: int, data: bytes, timeout: float = 10) -> tuple[int, dict, bytes]:
    """Send raw bytes, read one response: (status, headers, body). An empty reply fails the test."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
        except http.client.RemoteDisconnected:
            pytest.fail(f"empty reply to {data[:120]!r}")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def post(body: bytes, headers: bytes = b"Content-Type: application/json\r\n", length: bytes | None = None,
         path: bytes = b"/articles") -> bytes:
    length_line = b"Content-Length: " + (length if length is not None else str(len(body)).encode()) + b"\r\n"
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + AUTH + headers + length_line
            + b"Connection: close\r\n\r\n" + body)


def assert_json_error(status: int, headers: dict, body: bytes, expected: int | tuple[int, ...]) -> dict:
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert status in allowed, (status, body)
    assert headers["content-type"].startswith("application/json"), headers
    data = json.loads(body)
    assert data["error"] and data["message"], data
    return data


# --- malformed numbers and headers -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, request_bytes, expected", [
    ("5,000-digit Content-Length", post(b"{}", length=b"9" * 5000), 400),
    ("non-ASCII digit in Content-Length", post(b"{}", length="²".encode()), 400),
    ("two different Content-Length", post(b'{"url": "https://example.org/a"}',
                                          headers=b"Content-Type: application/json\r\nContent-Length: 5\r\n"), 400),
    ("Content-Length and Transfer-Encoding", post(b"0\r\n\r\n", headers=b"Content-Type: application/json\r\n"
                                                                         b"Transfer-Encoding: chunked\r\n"), 411),
    ("chunked without a length", b"POST /articles HTTP/1.1\r\nHost: x\r\n" + AUTH
     + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
       b"2\r\n{}\r\n0\r\n\r\n", 411),
    ("no Content-Length", b"POST /articles HTTP/1.1\r\nHost: x\r\n" + AUTH
     + b"Content-Type: application/json\r\nConnection: close\r\n\r\n", 411),
    ("Content-Length over the cap", post(b"", length=b"999999999999"), 413),
    ("gzip transfer coding", b"POST /articles HTTP/1.1\r\nHost: x\r\n" + AUTH
     + b"Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n", 400),
    ("header block over 16 kB", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", (400, 431)),
    ("garbage request line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n", 400),
    ("space in the header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
])
def test_malformed_framing_is_a_json_4xx(webhook, name, request_bytes, expected):
    assert_json_error(*exchange(webhook["port"], request_bytes), expected)


@pytest.mark.parametrize("name, body, content_type, expected", [
    ("JSON nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, b"application/json", 400),
    ("JSON nested 40 deep", b'{"url": ' + b"[" * 40 + b"]" * 40 + b"}", b"application/json", 400),
    ("5,000-digit JSON number", b'{"url": ' + b"7" * 5000 + b"}", b"application/json", 400),
    ("5,000-digit float", b'{"url": 0.' + b"7" * 5000 + b"}", b"application/json", 400),
    ("NaN", b'{"url": NaN}', b"application/json", 400),
    ("not UTF-8", b'{"url": "\xe9"}', b"application/json", 400),
    ("not JSON", b"url=https://example.org", b"application/json", 400),
    ("text/json-evil", b'{"url": "https://example.org/a"}', b"text/json-evil", 415),
    ("application/jsonx", b'{"url": "https://example.org/a"}', b"application/jsonx", 415),
    ("application/json in Latin-1", b'{"url": "https://example.org/a"}', b"application/json; charset=latin-1", 415),
    ("form", b"url=x", b"application/x-www-form-urlencoded", 415),
    ("broken IPv6 literal", b'{"url": "http://[::1/"}', b"application/json", 422),
    ("array", b'["https://example.org/a"]', b"application/json", 422),
    ("unknown field", b'{"link": "https://example.org/a"}', b"application/json", 422),
])
def test_hostile_bodies_are_a_json_4xx(webhook, name, body, content_type, expected):
    assert_json_error(*exchange(webhook["port"], post(body, b"Content-Type: " + content_type + b"\r\n")), expected)


@pytest.mark.parametrize("url", [
    "http://[::127.0.0.1]/", "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "http://[2002:7f00:1::]/", "http://[::ffff:7f00:1]/", "http://[fe80::1%25eth0]/", "http://[fd00::1]/",
    "http://127.0.0.1/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/",
    "http://169.254.169.254/", "http://[::]/", "http://0/", "http://localhost/", "http://100.64.0.1/",
])
def test_ssrf_in_every_form_is_422(webhook, url):
    body = json.dumps({"url": url}).encode()
    data = assert_json_error(*exchange(webhook["port"], post(body)), 422)
    assert any(word in data["message"] for word in ("refused", "malformed", "cannot resolve")), data


def test_a_get_body_is_not_read_as_a_second_request(webhook, redis_url):  # noqa: F811
    smuggled = (b"POST /articles HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Type: application/json\r\n"
                b"Content-Length: 2\r\n\r\n{}")
    request_bytes = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(smuggled)).encode()
                     + b"\r\n\r\n" + smuggled)
    with socket.create_connection(("127.0.0.1", webhook["port"]), timeout=5) as sock:
        sock.sendall(request_bytes)
        sock.settimeout(1.5)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.count(b"HTTP/1.1 ") == 1, received  # one request, one response


def test_a_body_that_never_ends_gets_408(webhook):
    started = time.monotonic()
    status, headers, body = exchange(webhook["port"], post(b'{"url": "ht', length=b"200"))
    assert_json_error(status, headers, body, 408)
    assert time.monotonic() - started < BODY_TIMEOUT_S + 2


def test_a_client_leaving_mid_body_leaves_no_trace(webhook):
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", webhook["port"]), timeout=5) as sock:
            sock.sendall(post(b'{"url": "https://exa', length=b"500"))
    time.sleep(0.5)
    status, _, _ = exchange(webhook["port"], b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200


@pytest.mark.parametrize("path", ["/admin", "/jobs/../../etc/passwd", "/jobs/" + "f" * 32 + "/x", "/%00",
                                  "/articles/../openapi.json"])
def test_unknown_routes_are_json_404(webhook, path):
    request_bytes = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, headers, body = exchange(webhook["port"], request_bytes)
    assert status in (401, 404), (path, status)
    assert_json_error(status, headers, body, (401, 404))


@pytest.mark.parametrize("header", [b"", b"Authorization: Bearer\r\n", b"Authorization: Bearer " + b"x" * 8000 + b"\r\n",
                                    b"Authorization: Basic " + TOKEN.encode() + b"\r\n",
                                    b"Authorization: Bearer \xff\xfe\r\n",
                                    b"Authorization: bearer  " + TOKEN[:-1].encode() + b"\r\n"])
def test_token_variants_are_401(webhook, header):
    request_bytes = (b"POST /articles HTTP/1.1\r\nHost: x\r\n" + header + b"Content-Type: application/json\r\n"
                     b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    assert_json_error(*exchange(webhook["port"], request_bytes), 401)


# --- load -------------------------------------------------------------------------------------------------------
def test_a_burst_of_300_posts_over_20_connections_is_accepted_whole(webhook, redis_url):  # noqa: F811
    registry = JobRegistry(redis_url)
    before = registry.redis.zcard(JobRegistry.INDEX)
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", webhook["port"], timeout=60)
        try:
            conn.connect()
            barrier.wait(timeout=30)
            for i in range(15):
                body = json.dumps({"html": f"<h1>Article {number}-{i}</h1><p>Le conseil a voté le budget.</p>"})
                conn.request("POST", "/articles", body=body, headers={
                    "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                with lock:
                    statuses.append(response.status)
        except Exception as exc:  # collected: a thread's exception would not fail the test
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert statuses == [202] * 300
    assert registry.redis.zcard(JobRegistry.INDEX) - before == 300


@pytest.mark.slow
def test_a_thousand_slow_connections_neither_block_nor_linger(webhook):
    slow: list[socket.socket] = []
    try:
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", webhook["port"]), timeout=5)
            sock.sendall(b"POST /articles HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and never the end of the headers
            slow.append(sock)
        opened = time.monotonic()
        started = time.monotonic()
        status, _, body = exchange(webhook["port"], b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == 200 and json.loads(body) == {"status": "ok"}
        assert time.monotonic() - started < 1.0
        # after the header timeout, the server has closed every one of them
        time.sleep(max(0.0, opened + HEADER_TIMEOUT_S + 2 - time.monotonic()))
        still_open = 0
        for sock in slow:
            sock.settimeout(3)
            try:
                if sock.recv(1) != b"":
                    still_open += 1
            except ConnectionResetError:
                pass
            except TimeoutError:
                still_open += 1
        assert still_open == 0
    finally:
        for sock in slow:
            sock.close()


def test_no_traceback_in_the_server_log(webhook):
    """Last in this file: every request above was a client's mistake or a success; none left a traceback."""
    exchange(webhook["port"], b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    log = webhook["log"].read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "Exception" not in log, log[-3000:]
    assert webhook["proc"].poll() is None

"""`audio-edition serve`: content types, HEAD, byte ranges and a folder nobody can step out of."""

from __future__ import annotations

import http.client
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

from audio_edition.errors import InputError
from audio_edition.publish.serve import make_server, start_in_thread

AUDIO = bytes(range(256)) * 40  # 10 240 bytes, every offset distinguishable
SECRET = "TOP-SECRET-OUTSIDE"
STORE = "STORE-SECRET-INSIDE-DOT-DIR"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("serve")
    root = base / "output"
    episode = root / "episodes" / "ep"
    episode.mkdir(parents=True)
    (episode / "ep-abc.mp3").write_bytes(AUDIO)
    (episode / "transcript.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nBonjour\n", encoding="utf-8")
    (episode / "transcript.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nBonjour\n", encoding="utf-8")
    (episode / "chapters.json").write_text('{"version": "1.2.0", "chapters": []}', encoding="utf-8")
    (episode / "episode.json").write_text("{}", encoding="utf-8")
    (episode / "index.html").write_text("<!doctype html><title>ép</title>", encoding="utf-8")
    (root / "feed.xml").write_text("<rss/>", encoding="utf-8")
    (root / ".audio-edition").mkdir()
    (root / ".audio-edition" / "store.sqlite").write_text(STORE, encoding="utf-8")
    (root / ".hidden.txt").write_text(STORE, encoding="utf-8")
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_text(SECRET, encoding="utf-8")
    (root / "link-out.txt").symlink_to(base / "outside" / "secret.txt")
    (root / "dir-out").symlink_to(base / "outside")
    (root / "store-link").symlink_to(root / ".audio-edition")
    return root


@pytest.fixture(scope="module")
def server(site):
    srv = start_in_thread(site)
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, method: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """A raw request: http.client sends the path exactly as given (no client-side normalisation)."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_binds_loopback_by_default(site):
    srv = make_server(site)
    try:
        assert srv.server_address[0] == "127.0.0.1"
        assert srv.url.startswith("http://127.0.0.1:")
    finally:
        srv.server_close()


def test_get_whole_file_with_type_and_ranges_advertised(server):
    status, headers, body = request(server, "GET", "/episodes/ep/ep-abc.mp3")
    assert status == 200
    assert body == AUDIO
    assert headers["content-type"] == "audio/mpeg"
    assert headers["accept-ranges"] == "bytes"
    assert headers["content-length"] == str(len(AUDIO))


def test_head_sends_headers_only(server):
    status, headers, body = request(server, "HEAD", "/episodes/ep/ep-abc.mp3")
    assert status == 200
    assert body == b""
    assert headers["content-length"] == str(len(AUDIO))
    assert headers["content-type"] == "audio/mpeg"
    assert headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/episodes/ep/transcript.vtt", "text/vtt"),
        ("/episodes/ep/transcript.srt", "application/x-subrip"),
        ("/episodes/ep/chapters.json", "application/json+chapters"),
        ("/episodes/ep/episode.json", "application/json"),
        ("/feed.xml", "application/rss+xml"),
        ("/episodes/ep/", "text/html"),
    ],
)
def test_content_types(server, path, expected):
    status, headers, _ = request(server, "GET", path)
    assert status == 200
    assert headers["content-type"].split(";")[0] == expected


@pytest.mark.parametrize(
    "range_header, first, last",
    [
        ("bytes=100-199", 100, 199),
        ("bytes=0-0", 0, 0),
        ("bytes=10000-", 10000, len(AUDIO) - 1),
        ("bytes=-50", len(AUDIO) - 50, len(AUDIO) - 1),
        ("bytes=10200-999999", 10200, len(AUDIO) - 1),  # the end is clamped to the file
    ],
)
def test_range_returns_206_with_the_right_bytes(server, range_header, first, last):
    status, headers, body = request(server, "GET", "/episodes/ep/ep-abc.mp3", {"Range": range_header})
    assert status == 206
    assert headers["content-range"] == f"bytes {first}-{last}/{len(AUDIO)}"
    assert headers["content-length"] == str(last - first + 1)
    assert body == AUDIO[first:last + 1]


def test_head_with_range_has_no_body(server):
    status, headers, body = request(server, "HEAD", "/episodes/ep/ep-abc.mp3", {"Range": "bytes=5-9"})
    assert status == 206 and body == b""
    assert headers["content-range"] == f"bytes 5-9/{len(AUDIO)}"


@pytest.mark.parametrize("range_header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_range_out_of_bounds_is_416(server, range_header):
    status, headers, body = request(server, "GET", "/episodes/ep/ep-abc.mp3", {"Range": range_header})
    assert status == 416
    assert headers["content-range"] == f"bytes */{len(AUDIO)}"
    assert body == b""


def test_stale_if_range_gets_the_whole_file(server):
    status, _, body = request(server, "GET", "/episodes/ep/ep-abc.mp3", {"Range": "bytes=0-9", "If-Range": '"old"'})
    assert status == 200 and body == AUDIO


def test_etag_revalidation(server):
    _, headers, _ = request(server, "HEAD", "/episodes/ep/ep-abc.mp3")
    status, _, body = request(server, "GET", "/episodes/ep/ep-abc.mp3", {"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/../outside/secret.txt",
        "/episodes/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/episodes/%2e%2e/%2e%2e/outside/secret.txt",
        "/episodes%2f..%2f..%2foutside%2fsecret.txt",
        "/..%2foutside%2fsecret.txt",
        "/..%5coutside%5csecret.txt",
        "/episodes\\..\\..\\outside\\secret.txt",
        "/%2e%2e%5coutside%5csecret.txt",
        "/link-out.txt",             # a symlink inside DIR pointing out of it
        "/dir-out/secret.txt",
        "/episodes/ep/%00.mp3",
        "/%c0%ae%c0%ae/outside/secret.txt",  # overlong UTF-8 dots
    ],
)
def test_traversal_is_refused(server, path):
    status, _, body = request(server, "GET", path)
    assert status == 404, path
    assert SECRET.encode() not in body


@pytest.mark.parametrize(
    "path",
    ["/.audio-edition/store.sqlite", "/%2eaudio-edition/store.sqlite", "/.hidden.txt", "/store-link/store.sqlite",
     "/.audio-edition/", "/episodes/./ep/index.html"],
)
def test_dot_paths_are_refused(server, path):
    status, _, body = request(server, "GET", path)
    assert status == 404, path
    assert STORE.encode() not in body


def test_listing_hides_dot_entries_and_folder_redirects(server):
    status, headers, _ = request(server, "GET", "/episodes")
    assert status == 301 and headers["location"] == "/episodes/"
    status, _, body = request(server, "GET", "/")
    assert status == 200
    assert b"feed.xml" in body and b".audio-edition" not in body and b".hidden" not in body


def test_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        make_server(tmp_path / "nope")
    result = run_cli("serve", str(tmp_path / "nope"))
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_serve_answers_range_requests(site):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "audio_edition", "serve", str(site), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/episodes/ep/ep-abc.mp3", headers={"Range": "bytes=256-511"})
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                break
            except (ConnectionRefusedError, OSError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert resp.status == 206
        assert body == AUDIO[256:512]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert f"127.0.0.1:{port}" in proc.stderr.read()


def _start_cli_server(folder: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    # As a terminal starts it: Ctrl+C's signal not ignored, even when these tests run in a background job
    # (a shell without job control starts those with SIGINT ignored, and children inherit that).
    proc = subprocess.Popen([sys.executable, "-m", "audio_edition", "serve", str(folder), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Started means: it says it serves (so it is in its loop, past start-up, and the port is its own, not another
    # program's that a connection alone could reach) and it accepts connections.
    deadline = time.monotonic() + 20
    assert proc.stderr is not None
    while not select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))[0] or \
            not proc.stderr.readline().startswith("Serving"):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"serve did not start: {proc.stderr.read()}")
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError(f"serve did not start: {proc.stderr.read()}") from None
            time.sleep(0.1)


def test_cli_serve_logs_a_dropped_connection_as_one_line_and_stops_on_sigterm(site):
    proc, port = _start_cli_server(site)
    try:
        # A browser that gives up half-way through its request: the connection is reset (RST, not FIN).
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"GET /episodes/ep/ep-abc.mp3 HTTP/1.1\r\nHost: x")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        client.close()
        time.sleep(0.5)
        # It still serves.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("HEAD", "/episodes/ep/ep-abc.mp3")
        assert conn.getresponse().status == 200
        conn.close()
        started = time.monotonic()
        proc.send_signal(15)  # SIGTERM, as systemd or docker stop send it
        code = proc.wait(timeout=10)
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert code == 0 and stopped_in < 2, (code, stopped_in, stderr)
    assert "Traceback" not in stderr
    dropped = [line for line in stderr.splitlines() if "closed the connection" in line]
    assert len(dropped) == 1 and "ConnectionResetError" in dropped[0], stderr
    assert stderr.rstrip().endswith("Stopped.")


def test_cli_serve_stops_promptly_on_ctrl_c(site):
    proc, port = _start_cli_server(site)
    try:
        started = time.monotonic()
        proc.send_signal(2)  # SIGINT: Ctrl+C
        code = proc.wait(timeout=10)
        assert code == 0 and time.monotonic() - started < 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")

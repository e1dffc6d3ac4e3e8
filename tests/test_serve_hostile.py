"""`serve` (the local preview) where it parses numbers and headers: Range positions of any length or script, and
request bodies on GET, answered without a crash, an empty reply or a smuggled second request."""

from __future__ import annotations

import http.client
import socket

import pytest

from audio_edition.publish.serve import parse_range, start_in_thread

DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture(scope="module")
def preview(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    (root / "episode.mp3").write_bytes(DATA)
    server = start_in_thread(root)
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def get(port: int, headers: dict) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/episode.mp3", headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


@pytest.mark.parametrize("header, status, content_range", [
    ("bytes=" + "9" * 5000 + "-", 416, f"bytes */{len(DATA)}"),
    ("bytes=0-" + "9" * 5000, 206, f"bytes 0-{len(DATA) - 1}/{len(DATA)}"),
    ("bytes=-" + "9" * 5000, 206, f"bytes 0-{len(DATA) - 1}/{len(DATA)}"),
    ("bytes=" + "0" * 5000 + "1-2", 206, f"bytes 1-2/{len(DATA)}"),
    ("bytes=²-", 200, None),  # not an ASCII digit: the header is ignored
    ("bytes=٣-٤", 200, None),  # Arabic-Indic digits int() would read
    ("bytes=１-２", 200, None),  # full-width digits
    ("bytes=5-1", 200, None),
    ("bytes=0-0,5-6", 200, None),
    ("bytes=10240-", 416, f"bytes */{len(DATA)}"),
])
def test_range_numbers_of_any_length_or_script(preview, header, status, content_range):
    got, headers, body = get(preview, {"Range": header.encode("utf-8")})  # type: ignore[dict-item]
    assert got == status
    assert headers.get("content-range") == content_range
    if status == 200:
        assert body == DATA
    if status == 206:
        first, last = (int(x) for x in content_range.split()[1].split("/")[0].split("-"))
        assert body == DATA[first:last + 1]


def test_parse_range_never_raises_on_long_numbers():
    for header in ("bytes=" + "1" * 10_000 + "-" + "2" * 10_000, "bytes=-" + "0" * 10_000, "bytes=" + "7" * 19 + "-"):
        assert parse_range(header, 1000) in (False, None, (0, 999))


def test_a_get_body_is_not_read_as_a_second_request(preview):
    smuggled = b"GET /episode.mp3 HTTP/1.1\r\nHost: x\r\n\r\n"
    request = (b"GET /nothing-here HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(smuggled)).encode()
               + b"\r\n\r\n" + smuggled)
    with socket.create_connection(("127.0.0.1", preview), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 404 ")
    assert received.count(b"HTTP/1.1 ") == 1  # the connection closed: the body was never parsed as a request

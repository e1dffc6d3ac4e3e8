"""Source: files, stdin-like bytes and http(s) URLs decode to the right text, and bad input fails in one line."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from conftest import DATA

from audio_edition.config import LimitsConfig
from audio_edition.errors import InputError
from audio_edition.sources.reader import decode_bytes, expand_sources, read_source

PAGE = "<html><head>{meta}</head><body><h1>Été à Noël</h1><p>Les élèves ont déjà commencé « ça » à l’école.</p></body></html>"


def test_iso_8859_1_fixture_comes_out_with_accents():
    doc = read_source(str(DATA / "pages" / "portail-iso-8859-1.html"))
    assert doc.kind == "html" and doc.encoding == "cp1252"
    assert "Pâques" in doc.text and "coûté" in doc.text and "Ã" not in doc.text


def test_windows_1252_curly_quotes_and_oe():
    data = "L\x92\x9cuvre de l\x92été".encode("latin-1")
    text, codec = decode_bytes(b"<meta charset='windows-1252'>" + data)
    assert text.endswith("L’œuvre de l’été") and codec == "cp1252"


def test_undeclared_latin1_is_detected():
    raw = ("Les élèves ont déjà commencé l'année à l'école de Montréal, où il a neigé très tôt. " * 5).encode("latin-1")
    text, _ = decode_bytes(raw)
    assert "élèves ont déjà" in text


def test_lying_meta_charset_does_not_make_mojibake():
    raw = PAGE.format(meta='<meta charset="iso-8859-1">').encode("utf-8")
    text, codec = decode_bytes(raw)
    assert codec == "utf-8" and "Été à Noël" in text and "Ã" not in text
    raw = PAGE.format(meta='<meta charset="utf-8">').encode("cp1252")  # says UTF-8, is windows-1252
    text, _ = decode_bytes(raw)
    assert "Été à Noël" in text and "\ufffd" not in text


def test_bom_wins_and_http_header_beats_meta():
    assert decode_bytes("\ufeffÉté".encode("utf-16-le"))[0] == "Été"
    text, codec = decode_bytes(PAGE.format(meta='<meta charset="utf-8">').encode("cp1252"), "windows-1252")
    assert codec == "cp1252" and "Été" in text


def test_text_and_html_are_told_apart(tmp_path):
    (tmp_path / "a.txt").write_text("Titre\n\nUn paragraphe.", encoding="utf-8")
    (tmp_path / "page").write_text(PAGE.format(meta=""), encoding="utf-8")
    assert read_source(str(tmp_path / "a.txt")).kind == "text"
    assert read_source(str(tmp_path / "page")).kind == "html"


@pytest.mark.parametrize("content, message", [
    (b"", "empty"), (b"  \n\n ", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.html"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_source(str(path))


def test_missing_too_large_and_directory(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_source(str(tmp_path / "nope.html"))
    big = tmp_path / "big.txt"
    big.write_text("x" * 2000)
    with pytest.raises(InputError, match="too large"):
        read_source(str(big), LimitsConfig(max_input_bytes=1000))
    with pytest.raises(InputError, match="directory"):
        read_source(str(tmp_path))


def test_expand_sources_lists_articles_of_a_directory(tmp_path):
    for name in ("b.html", "a.txt", "c.htm", ".hidden.html", "a.expected.json", "notes.md"):
        (tmp_path / name).write_text("x")
    assert [p.rsplit("/", 1)[-1] for p in expand_sources([str(tmp_path)])] == ["a.txt", "b.html", "c.htm"]
    assert expand_sources(["-", "https://example.org/a"]) == ["-", "https://example.org/a"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no article"):
        expand_sources([str(empty)])


# --- http(s) on a local server ---------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        if self.path == "/latin1":
            body = PAGE.format(meta="").replace("’", "'").encode("latin-1")
            self._send(200, body, "text/html; charset=ISO-8859-1")
        elif self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop" + str(len(self.path)))
            self.end_headers()
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/latin1")
            self.end_headers()
        elif self.path == "/big":
            self._send(200, b"<p>" + b"a" * 5000 + b"</p>", "text/html")
        elif self.path == "/slow":
            time.sleep(1.5)
            self._send(200, b"<p>late</p>", "text/html")
        elif self.path == "/image":
            self._send(200, b"\x89PNG\r\n", "image/png")
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, code, body, content_type):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_url_charset_from_header_and_redirect(server):
    doc = read_source(f"{server}/moved")
    assert doc.kind == "html" and "Été à Noël" in doc.text
    assert doc.url == f"{server}/latin1" and doc.encoding == "cp1252"


@pytest.mark.parametrize("path, limits, message", [
    ("/loop", LimitsConfig(max_redirects=3), "redirect"),
    ("/big", LimitsConfig(max_input_bytes=1000), "too large"),
    ("/slow", LimitsConfig(url_timeout_s=0.3), "timed out"),
    ("/missing", LimitsConfig(), "HTTP 404"),
    ("/image", LimitsConfig(), "image/png"),
])
def test_url_errors_are_one_line(server, path, limits, message):
    with pytest.raises(InputError, match=message) as info:
        read_source(f"{server}{path}", limits)
    assert "\n" not in info.value.one_line()


def test_unreachable_url():
    with pytest.raises(InputError, match="cannot fetch"):
        read_source("http://127.0.0.1:9/article.html", LimitsConfig(url_timeout_s=2))

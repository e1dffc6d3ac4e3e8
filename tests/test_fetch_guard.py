"""The one URL guard and the fetcher: every IPv4/IPv6 form of a non-public address refused, the check made on the
address actually connected to (DNS rebinding gains nothing), redirects pinned too, and an overall deadline that a
server dripping one byte a second cannot stretch — through the real CLI as well."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import socketserver
import threading
import time

import pytest
from conftest import run_cli
from robust_support import article_html

from audio_edition.config import LimitsConfig
from audio_edition.errors import InputError
from audio_edition.sources import url_guard
from audio_edition.sources.reader import read_source
from audio_edition.sources.url_guard import UrlGuard, parse_fetch_url, refusal

BODY = ("Le conseil municipal a voté le budget de la ville mardi soir. La séance a duré trois heures, "
        "et l’opposition a quitté la salle avant le vote. ") * 3
PAGE = article_html("Un article servi en local", BODY).encode("utf-8")


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "240.0.0.1", "255.255.255.255", "224.0.0.1", "198.18.0.1", "192.0.2.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "ff0e::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "::127.0.0.1", "::8.8.8.8",  # IPv4-compatible: deprecated, never routed
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "64:ff9b:1::8.8.8.8",  # NAT64
    "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:c0a8:101::",  # 6to4 around loopback, metadata, private
    "2001::1",  # Teredo
])
def test_non_public_addresses_are_refused_in_every_form(address):
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "2a00:1450:4007:80e::200e",
                                     "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url, message", [
    ("http://[::1/", "malformed"),
    ("http://example.org:99999/", "malformed"),
    ("http://example.org:0/", "port"),
    ("ftp://example.org/", "http or https"),
    ("javascript:alert(1)", "http or https"),
    ("http:///path", "no host"),
    ("http://example.org\\@127.0.0.1/", "backslash"),
    ("http://exa mple.org/", "spaces"),
    ("http://" + "a" * 3000 + ".org/", "characters"),
])
def test_malformed_urls_are_one_clear_refusal(url, message):
    with pytest.raises(InputError, match=message):
        parse_fetch_url(url)


@pytest.mark.parametrize("url", ["http://[::127.0.0.1]/", "http://[64:ff9b::7f00:1]/", "http://[64:ff9b::a9fe:a9fe]/",
                                 "http://[2002:7f00:1::]/", "http://0x7f.1/", "http://2130706433/",
                                 "http://0177.0.0.1/", "http://localhost/"])
def test_the_strict_guard_refuses_literal_and_resolved_forms(url):
    with pytest.raises(InputError, match="refused"):
        UrlGuard(allow_private=False).check_url(url)


class _Recorder(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def test_dns_rebinding_gains_nothing(monkeypatch):
    """The name resolves to a public address when checked and to loopback when connected to: the connection is
    refused, and the loopback server never sees a request."""
    seen: list[bytes] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            seen.append(self.request.recv(1024))

    with _Recorder(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1", "127.0.0.1"])

        def rebinding(host, port_, *args, **kwargs):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port_))]

        monkeypatch.setattr(url_guard.socket, "getaddrinfo", rebinding)
        with pytest.raises(InputError, match="loopback"):
            read_source(f"http://news.example:{port}/article.html", LimitsConfig(url_timeout_s=2),
                        url_guard=UrlGuard(allow_private=False))
        server.shutdown()
    assert seen == []


def test_connection_goes_to_the_vetted_address_with_the_host_name_kept():
    """The socket goes to the address the guard resolved; the Host header still names the host."""
    hosts: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        port = httpd.server_address[1]
        doc = read_source(f"http://localhost:{port}/a.html")
        httpd.shutdown()
    assert "Un article servi en local" in doc.text
    assert hosts == [f"localhost:{port}"]


class _TestGuard(UrlGuard):
    """The strict policy, except that 127.0.0.2 counts as public: the stand-in for a news site on loopback."""

    def vetted_addresses(self, host, port):
        if host == "127.0.0.2":
            return [ipaddress.ip_address(host)]
        return super().vetted_addresses(host, port)


def test_a_redirect_to_loopback_is_refused_on_the_strict_policy():
    """Redirect targets are checked and pinned like the first URL: the loopback admin page is never asked."""
    admin_hits: list[str] = []

    class Admin(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            admin_hits.append(self.path)
            self.send_response(200)
            self.end_headers()

    class Site(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{admin.server_address[1]}/admin")
            self.send_header("Content-Length", "0")
            self.end_headers()

    # the site answers on 127.0.0.2 (all of 127/8 is loopback on Linux), the admin page on 127.0.0.1
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Admin) as admin, \
            http.server.ThreadingHTTPServer(("127.0.0.2", 0), Site) as site:
        for server in (admin, site):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        with pytest.raises(InputError, match="refused.*loopback"):
            read_source(f"http://127.0.0.2:{site.server_address[1]}/go", LimitsConfig(url_timeout_s=2),
                        url_guard=_TestGuard(allow_private=False))
        admin.shutdown()
        site.shutdown()
    assert admin_hits == []


# --- the fetch deadline ---------------------------------------------------------------------------------------
class _Drip(socketserver.ThreadingTCPServer):
    """Answers every request one byte a second, for ever (headers or body, as `phase` says)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.stop = threading.Event()
        drip = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.recv(65536)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                try:
                    if drip.phase == "body":
                        self.request.sendall(head + b"Content-Length: 100000\r\n\r\n<html><body><p>")
                    else:
                        self.request.sendall(head)
                    while not drip.stop.wait(1.0):
                        self.request.sendall(b"a" if drip.phase == "body" else b"X")
                except OSError:
                    return

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/article.html"

    def close(self) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_dripping_server_cannot_stretch_the_fetch(phase):
    drip = _Drip(phase)
    try:
        started = time.monotonic()
        with pytest.raises(InputError, match="within 2 s") as info:
            read_source(drip.url, LimitsConfig(url_timeout_s=5, fetch_deadline_s=2))
        elapsed = time.monotonic() - started
    finally:
        drip.close()
    assert elapsed < 3.5, elapsed
    assert "\n" not in info.value.one_line()


def test_build_of_a_dripping_page_fails_in_one_line_within_the_deadline(tmp_path):
    config = tmp_path / "audio-edition.toml"
    config.write_text("[limits]\nfetch_deadline_s = 3\nurl_timeout_s = 10\n", encoding="utf-8")
    drip = _Drip("body")
    try:
        started = time.monotonic()
        result = run_cli("--config", str(config), "build", drip.url, "--out", str(tmp_path / "out"),
                         "--engine", "espeak", timeout=60)
        elapsed = time.monotonic() - started
    finally:
        drip.close()
    lines = result.stderr.strip().splitlines()
    assert result.code == 2, result.stderr
    assert len(lines) == 1 and "within 3 s" in lines[0] and "Traceback" not in result.stderr
    assert elapsed < 3 + 8, elapsed  # the deadline, plus the interpreter's start-up on a loaded machine


def test_https_through_the_pinned_connection_keeps_the_tls_name(tmp_path):
    """The socket goes to the vetted address, yet TLS checks the certificate against the host name: a server
    whose certificate names `localhost` is accepted as https://localhost/ and refused as https://127.0.0.1/."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as httpd:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        port = httpd.server_address[1]
        env = {"SSL_CERT_FILE": str(cert)}  # the test certificate as the only trusted authority
        by_name = run_cli("extract", f"https://localhost:{port}/a.html", env=env, timeout=60)
        by_address = run_cli("extract", f"https://127.0.0.1:{port}/a.html", env=env, timeout=60)
        httpd.shutdown()
    assert by_name.code == 0, by_name.stderr
    assert by_name.stdout.splitlines()[0] == "Un article servi en local"
    assert by_address.code == 2 and "certificate" in by_address.stderr.lower(), by_address.stderr

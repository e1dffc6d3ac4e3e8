"""The CMS webhook (`serve --api`): bearer token, size cap, SSRF refusal, job status, OpenAPI — on a real Redis."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from conftest import REPO, run_cli
from services import free_port, redis_url  # noqa: F401 - session fixture

from audio_edition.config import Config
from audio_edition.errors import InputError
from audio_edition.scale.jobs import JobRegistry
from audio_edition.scale.webhook import make_server
from audio_edition.sources.url_guard import check_url_allowed

TOKEN = "s3cret-token-for-tests-0123456789"


def _config(broker: str, **distributed) -> Config:
    return Config().replace("distributed", broker_url=broker, api_token=TOKEN, **distributed)


@pytest.fixture
def api(redis_url):  # noqa: F811
    servers = []

    def start(**distributed):
        server = make_server(_config(redis_url, **distributed), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def request(port: int, method: str, path: str, body: bytes | dict | list | None = None, token: str | None = TOKEN,
            headers: dict | None = None) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=body, headers=sent)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    return response.status, json.loads(raw) if raw else {}, response.msg  # header names: any case


def test_missing_or_wrong_token_is_401_and_says_nothing_more(api, redis_url):  # noqa: F811
    port = api()
    before = JobRegistry(redis_url).redis.zcard(JobRegistry.INDEX)
    answers = []
    for token in (None, "wrong", TOKEN[:-1], TOKEN + "x", ""):
        status, body, headers = request(port, "POST", "/articles", {"url": "https://example.org/a"}, token=token)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Bearer")
        answers.append(body)
    # Every refusal is the same answer: nothing tells a missing token from an almost-right one.
    assert all(body == answers[0] for body in answers)
    assert TOKEN not in json.dumps(answers) and TOKEN[:8] not in json.dumps(answers)
    status, body, _ = request(port, "GET", "/jobs/" + "0" * 32, token="wrong")
    assert status == 401 and body == answers[0]
    # A basic-auth header with the right secret is not a bearer token.
    status, _, _ = request(port, "POST", "/articles", {"url": "https://example.org/a"}, token=None,
                           headers={"Authorization": f"Basic {TOKEN}"})
    assert status == 401
    assert JobRegistry(redis_url).redis.zcard(JobRegistry.INDEX) == before  # nothing was queued


def test_oversized_body_is_413_before_it_is_read(api):
    port = api(max_body_bytes=4096)
    big = {"html": "<p>" + "Le conseil municipal a voté. " * 400 + "</p>"}
    status, body, _ = request(port, "POST", "/articles", big)
    assert status == 413 and body["error"] == "request entity too large"
    # Announcing a huge body is enough: the server answers without waiting for it.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.putrequest("POST", "/articles")
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(10**9))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    conn.close()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/admin",
    "http://127.1.2.3:6379/",
    "http://10.0.0.7/article.html",
    "http://192.168.1.1/",
    "http://172.16.5.4/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[::1]:8000/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1]/",
    "http://0.0.0.0/",
    "http://localhost:8000/",  # a host name that resolves to loopback
    "file:///etc/passwd",
    "gopher://example.org/",
])
def test_urls_to_private_addresses_are_refused(api, url):
    port = api()
    status, body, _ = request(port, "POST", "/articles", {"url": url})
    assert status == 422, body
    assert "refused" in body["message"] or "http or https" in body["message"]


def test_private_urls_are_accepted_when_the_config_allows_them(api):
    port = api(allow_private_urls=True)
    status, body, _ = request(port, "POST", "/articles", {"url": "http://127.0.0.1:9/article.html"})
    assert status == 202 and len(body["job_id"]) == 32


def test_every_resolved_address_is_checked(monkeypatch):
    """A name that resolves to one public and one private address (DNS tricks) is refused."""
    import socket

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.1.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(InputError, match="refused"):
        check_url_allowed("https://news.example/a")


def test_accepted_article_gets_a_job_that_can_be_followed(api):
    port = api()
    status, body, headers = request(port, "POST", "/articles", {"url": "http://93.184.216.34/2026/article.html"})
    assert status == 202
    job_id = body["job_id"]
    assert headers["Location"] == f"/jobs/{job_id}" == body["status_url"]
    status, job, _ = request(port, "GET", f"/jobs/{job_id}")
    assert status == 200
    assert job["id"] == job_id and job["state"] == "queued" and job["source"].startswith("http://93.184.216.34/")
    assert "payload" not in job

    status, body, _ = request(port, "POST", "/articles",
                              {"html": "<html><body><article><h1>Titre</h1><p>Un texte.</p></article></body></html>",
                               "url": "https://journal.example/titre"})
    assert status == 202
    status, body, _ = request(port, "GET", "/jobs/" + "f" * 32)
    assert status == 404 and body["error"] == "not found"
    status, body, _ = request(port, "GET", "/jobs/../../etc/passwd")
    assert status == 404


@pytest.mark.parametrize("body,expected", [
    (b"{not json", 400),
    ({"title": "no url"}, 422),
    ({"url": 12}, 422),
    ({"html": ""}, 422),
    ([1, 2], 422),
    ({"html": "<p>x</p>", "url": "javascript:alert(1)"}, 422),
])
def test_bad_requests_get_json_errors(api, body, expected):
    port = api()
    status, answer, headers = request(port, "POST", "/articles", body,
                                      headers={"Content-Type": "application/json"})
    assert status == expected
    assert headers["Content-Type"].startswith("application/json") and answer["message"]


def test_wrong_content_type_and_route(api):
    port = api()
    status, _, _ = request(port, "POST", "/articles", b"url=http://x", headers={"Content-Type": "text/plain"})
    assert status == 415
    status, body, _ = request(port, "GET", "/admin")
    assert status == 404 and body["error"] == "not found"
    status, body, headers = request(port, "PUT", "/articles", {"url": "https://example.org/a"})
    assert status == 405 and body["error"] == "method not allowed"  # JSON, like every other error
    assert headers["Allow"] == "POST"


def test_openapi_is_served_and_matches_the_committed_copy(api):
    from openapi_spec_validator import validate

    port = api()
    status, doc, _ = request(port, "GET", "/openapi.json", token=None)
    assert status == 200
    validate(doc)
    assert doc == json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert {"/articles", "/jobs/{job_id}"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert set(doc["paths"]["/articles"]["post"]["responses"]) >= {"202", "401", "413", "422"}


def test_cli_refuses_without_broker_or_token(tmp_path, redis_url):  # noqa: F811
    env = {"AUDIO_EDITION_BROKER_URL": "", "AUDIO_EDITION_API_TOKEN": ""}
    for args in (["serve", "--api"], ["worker"], ["enqueue", str(REPO / "examples")], ["status"]):
        result = run_cli(*args, cwd=tmp_path, env=env)
        assert result.code == 2, args
        assert "no broker configured" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    result = run_cli("serve", "--api", cwd=tmp_path, env={"AUDIO_EDITION_BROKER_URL": redis_url})
    assert result.code == 2 and "bearer token" in result.stderr


def test_serve_api_command_binds_loopback_and_answers(tmp_path, redis_url):  # noqa: F811
    port = free_port()
    env = dict(os.environ, AUDIO_EDITION_BROKER_URL=redis_url, AUDIO_EDITION_API_TOKEN=TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "audio_edition", "serve", "--api", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body, _ = request(port, "POST", "/articles", {"html": "<h1>Titre</h1><p>Texte.</p>"})
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
                time.sleep(0.2)
        assert status == 202
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True)
        if listening.returncode == 0 and listening.stdout.strip():
            local_addresses = {line.split()[3] for line in listening.stdout.splitlines()}
            assert local_addresses == {f"127.0.0.1:{port}"}
        result = run_cli("status", "--json", cwd=tmp_path, env={"AUDIO_EDITION_BROKER_URL": redis_url})
        assert result.code == 0
        data = json.loads(result.stdout)
        assert body["job_id"] in {job["id"] for job in data["jobs"]}
        assert data["counts"]["queued"] >= 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redirects_are_checked_too(tmp_path):
    """A public page that redirects to the metadata service is refused before that address is contacted."""
    import ipaddress
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from audio_edition.sources.reader import read_source
    from audio_edition.sources.url_guard import UrlGuard

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class SiteOnLoopback(UrlGuard):  # this test's server stands in for a public site
        def vetted_addresses(self, host, port):
            return [ipaddress.ip_address(host)] if host == "127.0.0.1" else super().vetted_addresses(host, port)

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(InputError, match="169.254.169.254.*link-local"):
            read_source(f"http://127.0.0.1:{server.server_address[1]}/article",
                        url_guard=SiteOnLoopback(allow_private=False))
    finally:
        server.shutdown()
        server.server_close()


def test_worker_side_checks_of_webhook_jobs(tmp_path):
    """What the worker does with a webhook job: the URL is checked again where it is fetched, and a site feed
    posted as "html" is refused (its item links would be fetched)."""
    from conftest import DATA

    from audio_edition.config import Config
    from audio_edition.scale.worker import _read_payload

    config = Config()
    with pytest.raises(InputError, match="refused"):
        _read_payload({"url": "http://localhost:9/article", "untrusted": True}, config, tmp_path)
    feed = (DATA / "feeds" / "site-rss-latin1.xml").read_bytes().decode("latin-1")
    with pytest.raises(InputError, match="site feeds are not accepted through the webhook"):
        _read_payload({"html": feed, "url": None, "untrusted": True}, config, tmp_path)
    article = _read_payload({"html": "<html><body><article><h1>Titre du jour</h1><p>Un paragraphe.</p></article>"
                                     "</body></html>", "url": "https://journal.example/t", "untrusted": True},
                            config, tmp_path)
    assert article.title == "Titre du jour"


def test_openapi_document_describes_exactly_the_served_routes(redis_url):  # noqa: F811
    """docs/openapi.json, the packaged copy and the application's route table stay in sync: every route and method
    served is described, and nothing described is missing from the server."""
    from starlette.routing import Route

    from audio_edition.scale.webhook import openapi_document

    server = make_server(_config(redis_url), "127.0.0.1", 0)
    try:
        served = {(route.path, method.lower()) for route in server.app.app.routes if isinstance(route, Route)
                  for method in (route.methods or ()) if method != "HEAD"}
    finally:
        server.server_close()
    document = openapi_document()
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == described
    assert document == json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    # the statuses the hostile suite sees on POST /articles are all documented
    assert {"202", "400", "401", "408", "411", "413", "415", "422", "431"} <= set(
        document["paths"]["/articles"]["post"]["responses"])

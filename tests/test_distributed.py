"""Newsroom scale, for real: Redis broker, two `audio-edition worker` processes, the webhook, an S3-compatible
bucket (moto server) — ten articles in, one worker SIGKILLed mid-article, ten episodes out, each exactly once."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import pytest
from conftest import FILLER, TINY_VOICE, run_cli
from services import S3_ENV, free_port, redis_url, s3_endpoint  # noqa: F401 - session fixtures

from audio_edition.publish.s3_target import publishable_files
from audio_edition.scale.jobs import JobRegistry

DATA_GUARDS = Path(__file__).resolve().parent / "data" / "guards"
TOKEN = "newsroom-token-0123456789abcdef"
BUCKET = "podcast-audio"
TOPICS = [
    ("Le tramway de Grenoble prolongé jusqu’à Meylan", "Les travaux commenceront au printemps."),
    ("La médiathèque rouvre après deux ans de travaux", "Le bâtiment a été isolé et agrandi."),
    ("Un festival de jazz attendu à Vienne en juillet", "Plus de deux cents concerts sont prévus."),
    ("Les vendanges commencent tôt dans le Beaujolais", "La chaleur de l’été a avancé la maturité."),
    ("Le port de Marseille accueille un nouveau ferry", "Le navire fonctionne au gaz naturel."),
    ("Une école de Lille teste la semaine de quatre jours", "Les parents seront consultés en juin."),
    ("La Loire atteint son plus bas niveau depuis 1976", "Des restrictions d’eau sont décidées."),
    ("Un club de rugby amateur fête ses cent ans", "Le stade portera le nom de son fondateur."),
    ("Les librairies indépendantes résistent en Bretagne", "Leur chiffre d’affaires progresse de 3 %."),
    ("Le marché de Noël de Strasbourg ouvre vendredi", "La sécurité sera renforcée autour des chalets."),
]


def article_html(n: int) -> tuple[str, str]:
    title, sentence = TOPICS[n]
    url = f"https://journal.example/2026/11/25/article-{n}"
    html = (f"<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>{title}</title>"
            f"<link rel='canonical' href='{url}'></head><body><article><h1>{title}</h1>"
            f"<p>{sentence} Le maire l’a annoncé mardi.</p><p>{FILLER}</p></article></body></html>")
    return url, html


def post(port: int, body: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/articles", body=json.dumps(body),
                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    response = conn.getresponse()
    data = json.loads(response.read())
    conn.close()
    assert response.status == 202, data
    return data


def start(args: list[str], config: Path, cwd: Path, env: dict, log: Path) -> subprocess.Popen:
    # Its own session: SIGKILL to the group kills the worker like a crashed machine would.
    return subprocess.Popen([sys.executable, "-m", "audio_edition", "--config", str(config), *args], cwd=cwd,
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def newsroom(tmp_path, redis_url, s3_endpoint):  # noqa: F811
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET)
    redis = JobRegistry(redis_url).redis
    redis.flushdb()
    out = tmp_path / "out"
    config = tmp_path / "audio-edition.toml"
    config.write_text(f"""
[podcast]
title = "Le journal lu"
base_url = "{s3_endpoint}/{BUCKET}/show/"
[voice]
voice = "{TINY_VOICE}"
[distributed]
broker_url = "{redis_url}"
output_dir = "{out}"
visibility_timeout_s = 12
api_token = "{TOKEN}"
[publish]
target = "s3"
endpoint_url = "{s3_endpoint}"
bucket = "{BUCKET}"
prefix = "show"
region = "us-east-1"
""", encoding="utf-8")
    env = dict(os.environ, **S3_ENV)
    env.pop("AUDIO_EDITION_VOICES", None)
    procs: list[subprocess.Popen] = []

    def launch(*args: str, name: str) -> subprocess.Popen:
        proc = start(list(args), config, tmp_path, env, tmp_path / f"{name}.log")
        procs.append(proc)
        return proc

    yield {"out": out, "config": config, "launch": launch, "s3": client, "redis": redis, "tmp": tmp_path,
           "env": env, "redis_url": redis_url,
           "base_url": f"{s3_endpoint}/{BUCKET}/show/"}
    for proc in procs:
        stop(proc)


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the webhook exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the webhook did not start")


def _wait_ready(tmp: Path, name: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    log = tmp / f"{name}.log"
    deadline = time.monotonic() + timeout
    while " ready." not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
        time.sleep(0.1)


@pytest.mark.slow
def test_ten_articles_two_workers_one_killed_all_published_once(newsroom):
    launch, jobs = newsroom["launch"], JobRegistry(newsroom["redis_url"])
    # Worker A builds articles only; worker B builds articles and is the one publisher (concurrency 1).
    worker_a = launch("worker", "--queues", "articles", "--concurrency", "1", name="worker-a")
    worker_b = launch("worker", "--queues", "articles,publish", "--concurrency", "1", name="worker-b")
    port = free_port()
    api = launch("serve", "--api", "--port", str(port), name="api")
    _wait_listening(port, api)
    _wait_ready(newsroom["tmp"], "worker-a", worker_a)  # both consume before the first article arrives
    _wait_ready(newsroom["tmp"], "worker-b", worker_b)

    ids = {}
    for n in range(10):
        url, html = article_html(n)
        ids[post(port, {"html": html, "url": url})["job_id"]] = url

    # Kill worker A with SIGKILL while it is in the middle of an article.
    killed_job = None
    deadline = time.monotonic() + 120
    while killed_job is None and time.monotonic() < deadline:
        for job_id in ids:
            job = jobs.get(job_id)
            if job and job["state"] == "running" and job.get("worker", "").startswith(f"audio-edition-{worker_a.pid}@"):
                os.killpg(worker_a.pid, signal.SIGKILL)
                killed_job = job_id
                break
        time.sleep(0.05)
    assert killed_job is not None, (newsroom["tmp"] / "worker-a.log").read_text()
    worker_a.wait(timeout=10)
    assert worker_a.returncode == -signal.SIGKILL

    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        states = {job_id: (jobs.get(job_id) or {}).get("state") for job_id in ids}
        if all(state in ("published", "failed") for state in states.values()):
            break
        time.sleep(0.5)
    log_b = (newsroom["tmp"] / "worker-b.log").read_text()
    assert all(state == "published" for state in states.values()), (states, log_b[-3000:])
    # Worker B built several articles with one voice, opened once in its one process.
    assert log_b.count("succeeded") >= 5 and log_b.count("opened voice") == 1
    killed = jobs.get(killed_job)
    assert killed["worker"].startswith(f"audio-edition-{worker_b.pid}@")  # finished by the surviving worker
    assert killed["attempts"] >= 2  # redelivered: acks_late + the dead worker's message restored

    # The store: ten episodes, each article once.
    out = newsroom["out"]
    with sqlite3.connect(out / ".audio-edition" / "store.sqlite3") as db:
        rows = db.execute("SELECT identity, status, slug, audio_file FROM episodes").fetchall()
    assert len(rows) == 10 and {r[1] for r in rows} == {"published"}
    assert sorted(r[0] for r in rows) == sorted(ids.values())
    assert len(list((out / "episodes").iterdir())) == 10
    for _, _, slug, audio in rows:
        assert len(list((out / "episodes" / slug).glob("*.mp3"))) == 1, slug

    # The bucket: every published file with its content type and cache policy, nothing from dot-folders.
    s3 = newsroom["s3"]
    objects = {o["Key"]: o for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="show/")["Contents"]}
    assert not any("/." in key for key in objects)
    assert set(objects) == {f"show/{r}" for r in publishable_files(out)}
    mp3_keys = [k for k in objects if k.endswith(".mp3")]
    assert len(mp3_keys) == 10
    for key in mp3_keys:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ContentType"] == "audio/mpeg"
        assert "immutable" in head["CacheControl"] and "max-age=31536000" in head["CacheControl"]
        assert head["ContentLength"] == (out / key.removeprefix("show/")).stat().st_size
    feed_head = s3.head_object(Bucket=BUCKET, Key="show/feed.xml")
    assert feed_head["ContentType"].startswith("application/rss+xml")
    assert feed_head["CacheControl"] == "public, max-age=300"
    page = next(k for k in objects if k.endswith("/index.html"))
    assert s3.head_object(Bucket=BUCKET, Key=page)["ContentType"] == "text/html; charset=utf-8"
    vtt = next(k for k in objects if k.endswith(".vtt"))
    assert s3.head_object(Bucket=BUCKET, Key=vtt)["ContentType"].startswith("text/vtt")
    # feed.xml went up after the audio it lists.
    assert feed_head["LastModified"] >= max(objects[k]["LastModified"] for k in mp3_keys)

    # The feed in the bucket is valid, lists the ten episodes once, and every enclosure is in the bucket.
    feed_xml = s3.get_object(Bucket=BUCKET, Key="show/feed.xml")["Body"].read()
    assert feed_xml == (out / "feed.xml").read_bytes()
    parsed = feedparser.parse(feed_xml)
    assert not parsed.bozo, parsed.bozo_exception
    assert len(parsed.entries) == 10
    assert len({e.id for e in parsed.entries}) == 10
    prefix = newsroom["base_url"]
    for entry in parsed.entries:
        enclosure = entry.enclosures[0]
        assert enclosure.type == "audio/mpeg"
        key = "show/" + enclosure.href.removeprefix(prefix)
        assert key in objects, enclosure.href

    # Sent again (a CMS retry, through the CLI this time): nothing new is built or published.
    url, html = article_html(3)
    again = newsroom["tmp"] / "again.html"
    again.write_text(html, encoding="utf-8")
    result = run_cli("--config", str(newsroom["config"]), "enqueue", str(again), "--wait", "--timeout", "60",
                     cwd=newsroom["tmp"], env=newsroom["env"])
    assert result.code == 0, result.stderr
    job_id = result.stdout.split()[0]
    assert jobs.get(job_id)["state"] == "unchanged"
    with sqlite3.connect(out / ".audio-edition" / "store.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM episodes").fetchone()[0] == 10
    status = run_cli("--config", str(newsroom["config"]), "status", cwd=newsroom["tmp"], env=newsroom["env"])
    assert status.code == 0 and "10 published" in status.stdout and "1 unchanged" in status.stdout


def test_publish_queue_demands_concurrency_one(newsroom):
    result = run_cli("--config", str(newsroom["config"]), "worker", "--queues", "publish", "--concurrency", "2",
                     cwd=newsroom["tmp"], env=newsroom["env"])
    assert result.code == 2 and "--concurrency 1" in result.stderr


def test_upload_order_puts_audio_first_and_feed_last(tmp_path):
    for name in ("feed.xml", "cover.jpg", "player/player.js", "episodes/a/a-1.mp3", "episodes/a/index.html",
                 "episodes/b/b-2.mp3", ".audio-edition/store.sqlite3", "episodes/a/.a.mp3.tmp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    order = publishable_files(tmp_path)
    assert order[:2] == ["episodes/a/a-1.mp3", "episodes/b/b-2.mp3"]
    assert order[-1] == "feed.xml"
    assert not any(part.startswith(".") for name in order for part in name.split("/"))


def test_enqueue_fans_a_site_feed_and_a_folder_out_into_one_job_per_article(tmp_path):
    from conftest import DATA, REPO

    from audio_edition.config import Config
    from audio_edition.scale.queue import payloads_for_sources

    # The Le Monde-like example is cut by a paywall: allowed as an excerpt, as make demo does.
    config = Config().replace("distributed", output_dir=str(tmp_path / "out")).replace("script", allow_partial=True)
    found = payloads_for_sources([str(DATA / "feeds" / "site-rss-latin1.xml"), str(REPO / "examples"),
                                  "https://journal.example/article"], config)
    kinds = [next(iter(payload)) for _, payload in found]
    # Two full-text feed items (the teaser's page cannot be fetched: skipped), three example files, one URL.
    assert kinds == ["article", "article", "document", "document", "document", "url"]
    titles = {payload["article"]["title"] for _, payload in found if "article" in payload}
    assert "Chartreuse : les refuges manquent déjà d'eau" in titles
    assert all(payload["document"]["text"] for _, payload in found if "document" in payload)


def test_s3_push_uploads_audio_first_feed_last_and_only_what_changed(tmp_path, s3_endpoint):  # noqa: F811
    import boto3

    from audio_edition.config import Config
    from audio_edition.publish.s3_target import push_output

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket="order-test")
    sent: list[str] = []
    client.meta.events.register("before-call.s3.PutObject", lambda params, **_: sent.append(params["url_path"]))
    out = tmp_path / "out"
    files = {"feed.xml": b"<rss/>", "episodes/a/index.html": b"<html>a</html>", "episodes/a/a-1.mp3": b"ID3a",
             "episodes/a/transcript.vtt": b"WEBVTT", ".audio-edition/store.sqlite3": b"db"}
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    config = Config().replace("publish", target="s3", bucket="order-test", endpoint_url=s3_endpoint, prefix="/p/")

    report = push_output(out, config, client=client)
    assert report.uploaded[0] == "p/episodes/a/a-1.mp3" and report.uploaded[-1] == "p/feed.xml"
    assert [path.rsplit("/", 1)[-1] for path in sent][-1] == "feed.xml"
    assert "p/.audio-edition/store.sqlite3" not in report.uploaded and len(report.uploaded) == 4

    # Nothing changed: nothing sent. A changed page and feed go up again; the MP3 is never rewritten.
    assert push_output(out, config, client=client).uploaded == ()
    (out / "episodes/a/index.html").write_bytes(b"<html>a, v2</html>")
    (out / "feed.xml").write_bytes(b"<rss>v2</rss>")
    (out / "episodes/a/a-1.mp3").write_bytes(b"ID3 tampered")
    again = push_output(out, config, client=client)
    assert again.uploaded == ("p/episodes/a/index.html", "p/feed.xml")
    assert client.get_object(Bucket="order-test", Key="p/episodes/a/a-1.mp3")["Body"].read() == b"ID3a"
    head = client.head_object(Bucket="order-test", Key="p/episodes/a/transcript.vtt")
    assert head["ContentType"] == "text/vtt; charset=utf-8" and head["CacheControl"] == "public, max-age=3600"


def test_s3_target_errors_are_one_line(tmp_path, s3_endpoint, monkeypatch):  # noqa: F811
    from audio_edition.config import Config
    from audio_edition.errors import AudioEditionError, InputError
    from audio_edition.publish.s3_target import push_output, s3_target

    with pytest.raises(InputError, match="needs a bucket"):
        s3_target(Config().replace("publish", target="s3"))
    with pytest.raises(InputError, match="unknown publish target"):
        s3_target(Config().replace("publish", target="ftp"))
    (tmp_path / "feed.xml").write_text("<rss/>")
    missing = Config().replace("publish", target="s3", bucket="no-such-bucket", endpoint_url=s3_endpoint)
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(AudioEditionError, match="no-such-bucket.*NoSuchBucket"):
        push_output(tmp_path, missing)


def test_local_build_publishes_to_the_bucket_too(tmp_path, s3_endpoint):  # noqa: F811
    """No broker: `build` works as before, and with [publish] target = "s3" the output goes to the bucket."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket="local-build")
    config = tmp_path / "audio-edition.toml"
    config.write_text(f"""
[podcast]
base_url = "{s3_endpoint}/local-build/"
[publish]
target = "s3"
endpoint_url = "{s3_endpoint}"
bucket = "local-build"
""", encoding="utf-8")
    url, html = article_html(0)
    (tmp_path / "article.html").write_text(html, encoding="utf-8")
    result = run_cli("--config", str(config), "build", str(tmp_path / "article.html"), "--out", str(tmp_path / "out"),
                     "--voice", str(TINY_VOICE), "--jobs", "1", cwd=tmp_path,
                     env={**S3_ENV, "AUDIO_EDITION_BROKER_URL": ""})
    assert result.code == 0, result.stderr
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="local-build")["Contents"]}
    assert "feed.xml" in keys and sum(k.endswith(".mp3") for k in keys) == 1
    assert keys == set(publishable_files(tmp_path / "out"))


@pytest.mark.slow
def test_publisher_commits_a_burst_in_one_batch_and_drops_duplicates(newsroom):
    """Articles built while the publisher is busy (here: not started yet) go out in one store commit and one feed
    regeneration; the same article sent twice is still one episode."""
    from audio_edition.config import load_config
    from audio_edition.scale.queue import submit

    launch, jobs = newsroom["launch"], JobRegistry(newsroom["redis_url"])
    builder = launch("worker", "--queues", "articles", name="builder")
    config = load_config(newsroom["config"])
    ids = []
    for n in (0, 1, 2, 0):  # article 0 twice: a CMS that retried
        url, html = article_html(n)
        ids.append(submit(config, {"html": html, "url": url}, url))
    deadline = time.monotonic() + 90
    while any((jobs.get(i) or {}).get("state") != "built" for i in ids):
        assert builder.poll() is None and time.monotonic() < deadline, [jobs.get(i) for i in ids]
        time.sleep(0.2)

    publisher = launch("worker", "--queues", "publish", name="publisher")
    deadline = time.monotonic() + 60
    while any((jobs.get(i) or {}).get("state") != "published" for i in ids):
        assert publisher.poll() is None and time.monotonic() < deadline, [jobs.get(i) for i in ids]
        time.sleep(0.2)
    log = (newsroom["tmp"] / "publisher.log").read_text()
    assert "published 3 episode(s) in one batch" in log
    assert sum(1 for i in ids if jobs.get(i).get("duplicate")) == 1
    with sqlite3.connect(newsroom["out"] / ".audio-edition" / "store.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM episodes WHERE status = 'published'").fetchone()[0] == 3
    assert len(feedparser.parse((newsroom["out"] / "feed.xml").read_bytes()).entries) == 3
    assert not any((newsroom["out"] / ".audio-edition" / "staging").iterdir())  # nothing left behind


def test_enqueue_judges_local_articles_and_queues_only_the_good_ones(tmp_path):
    """No broker needed: what `enqueue` would send. A refused or unreadable article is named; the others go on, and
    the guard settings travel with every job."""
    from conftest import DATA

    from audio_edition.config import Config
    from audio_edition.scale.queue import payloads_for_sources

    site = tmp_path / "site"
    site.mkdir()
    (site / "good.html").write_text(article_html(0)[1], encoding="utf-8")
    (site / "empty.html").write_bytes(b"")
    english = DATA / "guards" / "english-news.html"
    (site / "english.html").write_bytes(english.read_bytes())
    config = Config().replace("distributed", output_dir=str(tmp_path / "out"))
    skipped: list[tuple[str, str]] = []
    found = payloads_for_sources([str(site)], config, skipped)
    assert [source for source, _ in found] == [str(site / "good.html")]
    assert found[0][1]["guards"] == {"allow_languages": ["fr"], "allow_partial": False}
    lines = dict(skipped)
    assert "empty input" in lines[str(site / "empty.html")]
    assert "refused: the article is in English (en)" in lines[str(site / "english.html")]
    with_english = config.replace("script", allow_languages=("en", "fr"))
    assert len(payloads_for_sources([str(site)], with_english, [])) == 2


def test_enqueue_goes_on_past_refused_articles_and_a_worker_refuses_alone(newsroom):
    launch, jobs = newsroom["launch"], JobRegistry(newsroom["redis_url"])
    worker = launch("worker", "--queues", "articles,publish", "--concurrency", "1", name="worker")
    _wait_ready(newsroom["tmp"], "worker", worker)
    site = newsroom["tmp"] / "site"
    site.mkdir()
    (site / "good.html").write_text(article_html(1)[1], encoding="utf-8")
    (site / "empty.html").write_bytes(b"")
    result = run_cli("--config", str(newsroom["config"]), "enqueue", str(site), "--wait", "--timeout", "90",
                     cwd=newsroom["tmp"], env=newsroom["env"])
    assert result.code == 3, result.stderr
    assert f"audio-edition: skipped empty input: {site / 'empty.html'}" in result.stderr
    (job_id, source), = [line.split() for line in result.stdout.splitlines() if len(line.split()) == 2]
    assert source == str(site / "good.html") and jobs.get(job_id)["state"] == "published"

    # An article only a worker can judge (sent as a document, as the webhook does): it fails alone, with a reason.
    from audio_edition.config import load_config
    from audio_edition.scale.queue import submit

    english = (DATA_GUARDS / "english-news.html").read_text(encoding="utf-8")
    refused = submit(load_config(newsroom["config"]), {"html": english}, "webhook (html)")
    deadline = time.monotonic() + 60
    while (jobs.get(refused) or {}).get("state") != "failed":
        assert time.monotonic() < deadline, jobs.get(refused)
        time.sleep(0.2)
    job = jobs.get(refused)
    assert job["reason"] == "language" and "refused: the article is in English (en)" in job["error"]

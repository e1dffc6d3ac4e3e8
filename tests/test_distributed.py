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


CONFIG = """
[podcast]
title = "Le journal lu"
base_url = "{s3}/{bucket}/show/"
[voice]
voice = "{voice}"
[cache]
directory = "{cache}"
shared = "s3://{cache_bucket}/clips/"
shared_endpoint_url = "{s3}"
[distributed]
broker_url = "{redis}"
output_dir = "{out}"
visibility_timeout_s = 12
staging_max_age_s = 4
api_token = "{token}"
[publish]
target = "s3"
endpoint_url = "{s3}"
bucket = "{bucket}"
prefix = "show"
region = "us-east-1"
"""
CACHE_BUCKET = "clip-cache"
STAGING_PREFIX = "audio-edition-staging/"


@pytest.fixture
def newsroom(tmp_path, redis_url, s3_endpoint):  # noqa: F811
    """One newsroom: Redis, a bucket, and machines that share nothing else — each `machine(name)` has its own
    config file, output folder and clip cache (the same settings otherwise, as the docs ask)."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    for bucket in (BUCKET, CACHE_BUCKET):  # the server lives for the session: each test starts with empty buckets
        client.create_bucket(Bucket=bucket)
        for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    redis = JobRegistry(redis_url).redis
    redis.flushdb()

    def machine(name: str, redis_db: str = redis_url) -> Path:
        config = tmp_path / name / "audio-edition.toml"
        config.parent.mkdir(exist_ok=True)
        config.write_text(CONFIG.format(s3=s3_endpoint, bucket=BUCKET, voice=TINY_VOICE, cache=tmp_path / name / "cache",
                                        cache_bucket=CACHE_BUCKET, redis=redis_db, out=tmp_path / name / "out",
                                        token=TOKEN), encoding="utf-8")
        return config

    env = dict(os.environ, **S3_ENV)
    env.pop("AUDIO_EDITION_VOICES", None)
    procs: list[subprocess.Popen] = []

    def launch(*args: str, name: str, machine_name: str = "publisher", log_name: str | None = None) -> subprocess.Popen:
        config = tmp_path / machine_name / "audio-edition.toml"
        if not config.exists():
            machine(machine_name)
        proc = start(list(args), config, tmp_path / machine_name, env, tmp_path / f"{log_name or name}.log")
        procs.append(proc)
        return proc

    publisher_config = machine("publisher")
    yield {"out": tmp_path / "publisher" / "out", "config": publisher_config, "launch": launch, "machine": machine,
           "s3": client, "redis": redis, "tmp": tmp_path, "env": env, "redis_url": redis_url,
           "base_url": f"{s3_endpoint}/{BUCKET}/show/"}
    for proc in procs:
        stop(proc)


def staged_keys(s3) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=STAGING_PREFIX).get("Contents", [])]


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


def _running_on(jobs: JobRegistry, ids, proc: subprocess.Popen, states=("running",)) -> str | None:
    for job_id in ids:
        job = jobs.get(job_id) or {}
        if job.get("state") in states and job.get("worker", "").startswith(f"audio-edition-{proc.pid}@"):
            return job_id
    return None


@pytest.mark.slow
def test_three_machines_sharing_only_redis_and_a_bucket_publish_every_article_once(newsroom):
    """Three workers with their own output folders and clip caches (as on three machines), Redis and one bucket:
    ten articles through the webhook, a build worker SIGKILLed mid-article, the publisher SIGKILLed mid-publish
    and restarted — ten episodes in the bucket's feed, once each, with their files, and no staged object left."""
    launch, jobs, s3, tmp = newsroom["launch"], JobRegistry(newsroom["redis_url"]), newsroom["s3"], newsroom["tmp"]
    # The publisher's machine also builds; two more machines only build.
    publisher = launch("worker", "--queues", "articles,publish", name="publisher")
    builder_a = launch("worker", "--queues", "articles", name="builder-a", machine_name="machine-a")
    builder_b = launch("worker", "--queues", "articles", name="builder-b", machine_name="machine-b")
    port = free_port()
    api = launch("serve", "--api", "--port", str(port), name="api")
    _wait_listening(port, api)
    for name, proc in (("publisher", publisher), ("builder-a", builder_a), ("builder-b", builder_b)):
        _wait_ready(tmp, name, proc)

    ids = {}
    for n in range(10):
        url, html = article_html(n)
        ids[post(port, {"html": html, "url": url})["job_id"]] = url

    # Builder A dies (SIGKILL) in the middle of an article; the publisher dies once in the middle of a publication.
    killed_build = killed_publish = None
    deadline = time.monotonic() + 120
    while (killed_build is None or killed_publish is None) and time.monotonic() < deadline:
        if killed_build is None and (killed_build := _running_on(jobs, ids, builder_a)):
            os.killpg(builder_a.pid, signal.SIGKILL)
        if killed_publish is None:
            killed_publish = next((j for j in ids if (jobs.get(j) or {}).get("state") == "publishing"), None)
            if killed_publish:
                os.killpg(publisher.pid, signal.SIGKILL)
        time.sleep(0.02)
    assert killed_build and killed_publish, (tmp / "builder-a.log").read_text()[-2000:]
    builder_a.wait(timeout=10)
    publisher.wait(timeout=10)
    assert builder_a.returncode == publisher.returncode == -signal.SIGKILL
    publisher = launch("worker", "--queues", "articles,publish", name="publisher", log_name="publisher-2")
    _wait_ready(tmp, "publisher-2", publisher)

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        states = {job_id: (jobs.get(job_id) or {}).get("state") for job_id in ids}
        if all(state in ("published", "failed") for state in states.values()):
            break
        time.sleep(0.5)
    log = (tmp / "publisher-2.log").read_text()
    assert all(state == "published" for state in states.values()), (states, log[-3000:])
    killed = jobs.get(killed_build)
    assert killed["attempts"] >= 2 and not killed["worker"].startswith(f"audio-edition-{builder_a.pid}@")
    # Articles built on the other machines reached the feed: their files travelled through the bucket.
    builders = {jobs.get(j)["worker"].split("@")[0] for j in ids}
    assert f"audio-edition-{builder_b.pid}" in builders, builders

    # The publisher's store: ten episodes, each article once. The builders' folders published nothing.
    out = newsroom["out"]
    with sqlite3.connect(out / ".audio-edition" / "store.sqlite3") as db:
        rows = db.execute("SELECT identity, status, slug, audio_file FROM episodes").fetchall()
    assert len(rows) == 10 and {r[1] for r in rows} == {"published"}
    assert sorted(r[0] for r in rows) == sorted(ids.values())
    for other in ("machine-a", "machine-b"):
        assert not (tmp / other / "out" / "episodes").exists() and not (tmp / other / "out" / "feed.xml").exists()
    assert any((tmp / "machine-b" / "cache").rglob("*.clip"))  # its own clip cache
    # The shared tier has every sentence spoken anywhere.
    assert s3.list_objects_v2(Bucket=CACHE_BUCKET, Prefix="clips/")["KeyCount"] > 20

    # The bucket: every published file with its content type and cache policy, nothing from dot-folders.
    objects = {o["Key"]: o for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="show/")["Contents"]}
    assert not any("/." in key for key in objects)
    assert set(objects) == {f"show/{r}" for r in publishable_files(out)}
    for _, _, slug, audio in rows:
        for name in (audio, "transcript.vtt", "transcript.srt", "chapters.json", "index.html"):
            assert f"show/episodes/{slug}/{name}" in objects, (slug, name)
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
    assert feed_head["LastModified"] >= max(objects[k]["LastModified"] for k in mp3_keys)  # feed.xml went up last

    # The feed in the bucket is valid, lists the ten episodes once, and every enclosure is in the bucket.
    feed_xml = s3.get_object(Bucket=BUCKET, Key="show/feed.xml")["Body"].read()
    assert feed_xml == (out / "feed.xml").read_bytes()
    parsed = feedparser.parse(feed_xml)
    assert not parsed.bozo, parsed.bozo_exception
    assert len(parsed.entries) == 10
    assert len({e.id for e in parsed.entries}) == 10
    assert sorted(e.link for e in parsed.entries) == sorted(ids.values())  # each article once
    for entry in parsed.entries:
        enclosure = entry.enclosures[0]
        assert enclosure.type == "audio/mpeg"
        assert "show/" + enclosure.href.removeprefix(newsroom["base_url"]) in objects, enclosure.href

    # The sweep (after staging_max_age_s) leaves no staged object, nor any download on the publisher.
    time.sleep(4.5)
    swept = run_cli("--config", str(newsroom["config"]), "sweep", cwd=tmp, env=newsroom["env"])
    assert swept.code == 0, swept.stderr
    assert staged_keys(s3) == []
    assert not any((out / ".audio-edition" / "incoming").glob("*"))

    # Sent again (a CMS retry, through the CLI on a build machine this time): nothing new is built or published.
    url, html = article_html(3)
    again = tmp / "again.html"
    again.write_text(html, encoding="utf-8")
    result = run_cli("--config", str(tmp / "machine-b" / "audio-edition.toml"), "enqueue", str(again), "--wait",
                     "--timeout", "60", cwd=tmp, env=newsroom["env"])
    assert result.code == 0, result.stderr
    job_id = result.stdout.split()[0]
    assert jobs.get(job_id)["state"] == "unchanged"
    with sqlite3.connect(out / ".audio-edition" / "store.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM episodes").fetchone()[0] == 10
    status = run_cli("--config", str(newsroom["config"]), "status", cwd=tmp, env=newsroom["env"])
    assert status.code == 0 and "10 published" in status.stdout and "1 unchanged" in status.stdout


def _wait_state(jobs: JobRegistry, job_id: str, state: str, proc: subprocess.Popen, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while (job := jobs.get(job_id) or {}).get("state") != state:
        assert proc.poll() is None and time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


@pytest.mark.slow
def test_another_machine_with_an_empty_cache_speaks_nothing_the_shared_tier_has(newsroom):
    """Two titles of a group (their own Redis databases, folders and caches) share the clip cache's bucket: the
    agency dispatch the first one built is built by the second one's worker without speaking a sentence."""
    from audio_edition.config import load_config
    from audio_edition.scale.queue import submit

    launch = newsroom["launch"]
    other_redis = newsroom["redis_url"].rsplit("/", 1)[0] + "/1"
    JobRegistry(other_redis).redis.flushdb()
    newsroom["machine"]("title-2", redis_db=other_redis)
    url, html = article_html(4)

    first = launch("worker", "--queues", "articles,publish", name="title-1")
    _wait_ready(newsroom["tmp"], "title-1", first)
    jobs = JobRegistry(newsroom["redis_url"])
    built_first = _wait_state(jobs, submit(load_config(newsroom["config"]), {"html": html, "url": url}, url),
                              "published", first)
    spoken = built_first["spoken"]
    assert spoken >= 5 and built_first["cached"] == 0

    second = launch("worker", "--queues", "articles", name="title-2", machine_name="title-2")
    _wait_ready(newsroom["tmp"], "title-2", second)
    other_jobs = JobRegistry(other_redis)
    config_2 = load_config(newsroom["tmp"] / "title-2" / "audio-edition.toml")
    job = _wait_state(other_jobs, submit(config_2, {"html": html, "url": url}, url), "built", second)
    assert (job["spoken"], job["cached"]) == (0, spoken)
    assert len(list((newsroom["tmp"] / "title-2" / "cache").rglob("*.clip"))) == spoken  # kept locally now


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
    builder = launch("worker", "--queues", "articles", name="builder", machine_name="machine-a")
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
    # nothing left behind: the publisher marks a job published, then deletes its stage (a crash between the two
    # leaves a stage for the sweep, never a published job without its files), so the last stage may still be
    # going when the last job reads published
    deadline = time.monotonic() + 10
    while staged_keys(newsroom["s3"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert staged_keys(newsroom["s3"]) == []


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

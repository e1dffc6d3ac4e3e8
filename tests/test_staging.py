"""The hand-over of built episodes through object storage, and the clip cache's shared tier: real episodes (the
tiny Piper voice), a real S3-compatible server (moto), real Redis, and a publisher killed at each hand-over."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import feedparser
import pytest
from conftest import FILLER, TINY_VOICE, run_cli
from services import S3_ENV, redis_url, s3_endpoint  # noqa: F401 - session fixtures

from audio_edition.build.article import Placement, Reader, build_article
from audio_edition.config import Config
from audio_edition.extract import extract_article
from audio_edition.models import Episode, SourceDocument
from audio_edition.objectstore import S3Location
from audio_edition.publish.publisher import article_identity
from audio_edition.scale.jobs import JobRegistry
from audio_edition.scale.publisher import publish_staged, sweep_staging
from audio_edition.scale.queue import make_app
from audio_edition.scale.staging import (
    FolderStaging,
    S3Staging,
    StageMissing,
    StageRejected,
    StagingStore,
    download_episode,
    new_stage,
    staging_store,
    sweep,
    upload_episode,
)
from audio_edition.speech.script import build_script
from audio_edition.voice.pool import SynthesisPool
from audio_edition.voice.spec import resolve_engine

BUCKET = "handover"


class Killed(BaseException):
    """What SIGKILL does to a publisher, at a chosen line: nothing after it runs (not an Exception: no handler
    of ours catches it)."""


def _article(n: int):
    url = f"https://journal.example/2026/12/02/depeche-{n}"
    html = (f"<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>Dépêche numéro {n}</title>"
            f"<link rel='canonical' href='{url}'></head><body><article><h1>Dépêche numéro {n}</h1>"
            f"<p>Le préfet a pris un arrêté jeudi. La circulation sera coupée {n} jours.</p><p>{FILLER}</p>"
            "</article></body></html>")
    return extract_article(SourceDocument(text=html, kind="html", location="test", url=url))


def _build(tmp: Path, config: Config, n: int, slug: str | None = None) -> Episode:
    article = _article(n)
    script = build_script(article, config, {})
    spec = resolve_engine(config.voice)
    folder = tmp / "scratch" / f"episode-{n}"
    with SynthesisPool(spec, 1, None) as pool:
        result = build_article(script, Reader(spec, pool), config,
                               lambda _hash: Placement(slug or f"depeche-{n}", folder))
    assert result.episode is not None
    return result.episode


@pytest.fixture
def s3(s3_endpoint, monkeypatch):  # noqa: F811
    import boto3

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return client


def _stores(tmp_path: Path, endpoint: str, client) -> list[StagingStore]:
    return [FolderStaging(tmp_path / "shared-folder"),
            S3Staging(S3Location(BUCKET, "staging/", endpoint, "us-east-1"), client)]


def test_a_staged_episode_arrives_whole_through_a_folder_or_a_bucket(tmp_path, s3, s3_endpoint):  # noqa: F811
    config = Config().replace("voice", voice=str(TINY_VOICE))
    episode = _build(tmp_path, config, 1)
    built = {p.name: p.read_bytes() for p in Path(episode.directory).iterdir()}
    assert {"episode.json", "transcript.vtt", "transcript.srt", "chapters.json", episode.audio_file} <= set(built)
    for store in _stores(tmp_path, s3_endpoint, s3):
        stage = new_stage("a" * 32)
        manifest = upload_episode(store, stage, "a" * 32, article_identity(_article(1)), episode)
        assert {f.name for f in manifest.files} == set(built)
        got = download_episode(store, stage, tmp_path / "incoming" / stage)
        assert got == manifest
        assert {p.name: p.read_bytes() for p in (tmp_path / "incoming" / stage).iterdir()} == built
        assert stage in store.stages()
        store.delete_stage(stage)
        assert stage not in store.stages()
        with pytest.raises(StageMissing):
            download_episode(store, stage, tmp_path / "incoming" / stage)


def test_a_worker_killed_mid_upload_leaves_nothing_to_take_and_the_sweep_removes_it(tmp_path, s3,
                                                                                     s3_endpoint):  # noqa: F811
    config = Config().replace("voice", voice=str(TINY_VOICE))
    episode = _build(tmp_path, config, 2)
    for store in _stores(tmp_path, s3_endpoint, s3):
        stage = new_stage("b" * 32)

        def die(*_args):
            raise Killed()

        store.put_manifest = die  # type: ignore[method-assign]  # the worker dies after its last file
        with pytest.raises(Killed):
            upload_episode(store, stage, "b" * 32, "identity", episode)
        assert stage in store.stages()  # its files are there…
        with pytest.raises(StageMissing):  # …but without a manifest, the publisher takes nothing
            download_episode(store, stage, tmp_path / "incoming" / stage)
        assert sweep(store, older_than_s=3600) == []  # young: it might still be uploading
        assert sweep(store, older_than_s=0) == [stage]
        assert store.stages() == {}


def test_a_stage_that_does_not_match_its_manifest_is_rejected(tmp_path, s3, s3_endpoint):  # noqa: F811
    config = Config().replace("voice", voice=str(TINY_VOICE))
    episode = _build(tmp_path, config, 3)
    store = FolderStaging(tmp_path / "staging")
    stage = new_stage("c" * 32)
    manifest = upload_episode(store, stage, "c" * 32, "identity", episode)
    mp3 = next(f for f in manifest.files if f.name == episode.audio_file)

    # A flipped byte in the MP3: its hash no longer matches.
    blob = tmp_path / "staging" / stage / mp3.sha256
    original = blob.read_bytes()
    blob.write_bytes(original[:-10] + bytes(b ^ 0xFF for b in original[-10:]))
    with pytest.raises(StageRejected, match="do not match the manifest"):
        download_episode(store, stage, tmp_path / "incoming")

    # A manifest consistent with a cut MP3 (as a worker with a bug might write): the decoded length gives it away.
    cut = original[: len(original) // 2]
    digest = hashlib.sha256(cut).hexdigest()
    (tmp_path / "staging" / stage / digest).write_bytes(cut)
    raw = json.loads((tmp_path / "staging" / stage / "manifest.json").read_text())
    for entry in raw["files"]:
        if entry["name"] == episode.audio_file:
            entry.update(sha256=digest, size=len(cut))
    (tmp_path / "staging" / stage / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(StageRejected, match="decodes to"):
        download_episode(store, stage, tmp_path / "incoming")

    # A manifest naming a path instead of a file name is refused before anything is written.
    raw["files"][0]["name"] = "../../feed.xml"
    (tmp_path / "staging" / stage / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(StageRejected, match="file list"):
        download_episode(store, stage, tmp_path / "incoming")
    with pytest.raises(StageRejected, match="malformed"):
        download_episode(store, "../" + stage, tmp_path / "incoming")


# --- the publisher killed at each hand-over --------------------------------------------------------------------
@pytest.fixture
def handover(tmp_path, s3, s3_endpoint, redis_url):  # noqa: F811
    """A publisher's folder, its config (publishing to the bucket, staging in it) and a staged episode whose job
    waits for the publisher, as a build worker on another machine leaves it."""
    jobs = JobRegistry(redis_url)
    jobs.redis.flushdb()
    config = Config().replace("voice", voice=str(TINY_VOICE)) \
        .replace("podcast", base_url=f"{s3_endpoint}/{BUCKET}/show/") \
        .replace("publish", target="s3", bucket=BUCKET, prefix="show", endpoint_url=s3_endpoint) \
        .replace("distributed", broker_url=redis_url)
    out = tmp_path / "publisher"
    store = staging_store(config, out)
    assert isinstance(store, S3Staging) and store.describe() == f"s3://{BUCKET}/audio-edition-staging/"
    job_id = "d" * 32
    episode = _build(tmp_path, config, 4)
    stage = new_stage(job_id)
    upload_episode(store, stage, job_id, article_identity(_article(4)), episode)
    jobs.create(job_id, "test", {"article": _article(4).to_dict()})
    jobs.update(job_id, state="built", staging=stage)
    jobs.mark_ready(job_id, stage)
    return {"config": config, "out": out, "store": store, "jobs": jobs, "job_id": job_id, "stage": stage,
            "episode": episode, "app": make_app(config), "s3": s3}


def _publish(h) -> str:
    return publish_staged(h["config"], h["out"], h["store"], h["jobs"], h["app"], h["job_id"], h["stage"])


def _bucket_keys(s3, prefix: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])}


def _published_once(h) -> None:
    """One episode in the store, in the bucket's feed, with its MP3 in the bucket; nothing staged any more."""
    s3, slug = h["s3"], h["episode"].slug
    with sqlite3.connect(h["out"] / ".audio-edition" / "store.sqlite3") as db:
        assert db.execute("SELECT slug, status FROM episodes").fetchall() == [(slug, "published")]
    feed = feedparser.parse(s3.get_object(Bucket=BUCKET, Key="show/feed.xml")["Body"].read())
    assert len(feed.entries) == 1
    key = "show/" + feed.entries[0].enclosures[0].href.removeprefix(h["config"].podcast.base_url)
    assert key == f"show/episodes/{slug}/{h['episode'].audio_file}" and key in _bucket_keys(s3, "show/")
    assert _bucket_keys(s3, "audio-edition-staging/") == set()
    job = h["jobs"].get(h["job_id"])
    assert job["state"] == "published" and job["slug"] == slug and not job.get("duplicate")
    state = h["jobs"].article(article_identity(_article(4)))
    assert state is not None and state.script_hash == h["episode"].script_hash and state.slug == slug
    assert h["jobs"].ready() == {}


def test_publisher_killed_between_commit_and_upload_is_completed_by_the_next(handover, monkeypatch):
    h = handover

    def killed(*_args, **_kwargs):
        raise Killed()

    with monkeypatch.context() as patch:
        patch.setattr("audio_edition.publish.publisher.push_output", killed)
        with pytest.raises(Killed):
            _publish(h)
    # Committed in its store, nothing in the bucket, Redis not told: builders would not skip this article yet.
    with sqlite3.connect(h["out"] / ".audio-edition" / "store.sqlite3") as db:
        assert db.execute("SELECT status FROM episodes").fetchall() == [("published",)]
    assert _bucket_keys(h["s3"], "show/") == set()
    assert h["jobs"].article(article_identity(_article(4))) is None

    assert _publish(h) == "published"  # the redelivered task, on the next publisher
    _published_once(h)
    assert _publish(h) == "duplicate"  # once more: nothing changes
    _published_once(h)


def test_publisher_killed_between_download_and_commit_is_completed_by_the_next(handover, monkeypatch):
    h = handover

    def killed(*_args, **_kwargs):
        raise Killed()

    with monkeypatch.context() as patch:  # the files are downloaded and moved into place; the commit never comes
        patch.setattr("audio_edition.scale.publisher.publish", killed)
        with pytest.raises(Killed):
            _publish(h)
    assert (h["out"] / "episodes" / h["episode"].slug / h["episode"].audio_file).is_file()
    assert h["jobs"].get(h["job_id"])["state"] == "publishing"
    assert _bucket_keys(h["s3"], "audio-edition-staging/")  # the stage is still there for the next one

    assert _publish(h) == "published"
    _published_once(h)


def test_the_sweep_keeps_stages_waiting_for_the_publisher(handover):
    h = handover
    orphan = new_stage("e" * 32)  # a stage whose job nobody will publish (its worker died before saying so)
    upload_episode(h["store"], orphan, "e" * 32, "identity", h["episode"])
    assert sweep_staging(h["config"], h["out"], h["store"], h["jobs"], older_than_s=0) == [orphan]
    assert set(h["store"].stages()) == {h["stage"]}  # built and waiting: kept whatever its age
    assert _publish(h) == "published"
    _published_once(h)


# --- the clip cache's shared tier ------------------------------------------------------------------------------
def _machine_config(tmp_path: Path, name: str, endpoint: str, shared: bool) -> Path:
    config = tmp_path / f"{name}.toml"
    config.write_text(f"""
[cache]
directory = "{tmp_path / name / 'cache'}"
""" + (f"""shared = "s3://{BUCKET}/clips/"
shared_endpoint_url = "{endpoint}"
""" if shared else ""), encoding="utf-8")
    return config


def _build_on(tmp_path: Path, name: str, config: Path) -> tuple[dict, bytes]:
    stats = tmp_path / name / "stats.json"
    result = run_cli("--config", str(config), "build", str(tmp_path / "article.html"), "--out",
                     str(tmp_path / name / "out"), "--voice", str(TINY_VOICE), "--jobs", "1", "--stats-json",
                     str(stats), cwd=tmp_path, env={**S3_ENV, "AUDIO_EDITION_BROKER_URL": ""})
    assert result.code == 0, result.stderr
    mp3 = next((tmp_path / name / "out" / "episodes").rglob("*.mp3")).read_bytes()
    return json.loads(stats.read_text()), mp3


@pytest.mark.slow
def test_a_sentence_spoken_on_one_machine_is_not_spoken_again_on_another(tmp_path, s3, s3_endpoint):  # noqa: F811
    url = "https://journal.example/2026/12/02/depeche-5"
    (tmp_path / "article.html").write_text(
        f"<html lang='fr'><head><title>La dépêche</title><link rel='canonical' href='{url}'></head><body><article>"
        f"<h1>La dépêche</h1><p>Le préfet a pris un arrêté jeudi.</p><p>{FILLER}</p></article></body></html>",
        encoding="utf-8")
    first, mp3 = _build_on(tmp_path, "machine-a", _machine_config(tmp_path, "machine-a", s3_endpoint, True))
    spoken = first["utterances_synthesized"]
    assert spoken >= 5 and first["utterances_cached"] == 0
    assert len(_bucket_keys(s3, "clips/")) == spoken

    # Another machine, its local cache empty: every sentence comes from the shared tier, the same bytes come out.
    second, mp3_b = _build_on(tmp_path, "machine-b", _machine_config(tmp_path, "machine-b", s3_endpoint, True))
    assert (second["utterances_synthesized"], second["utterances_cached"]) == (0, spoken)
    assert mp3_b == mp3
    assert len(list((tmp_path / "machine-b" / "cache").rglob("*.clip"))) == spoken  # kept locally from now on

    # A damaged shared entry is never played: that sentence is spoken again (Piper samples its noise afresh, so
    # those samples, and the file, differ), the others come from the tier.
    damaged = sorted(_bucket_keys(s3, "clips/"))[0]
    s3.put_object(Bucket=BUCKET, Key=damaged, Body=b"AECLIP1\0" + b"\0" * 64)
    third, _ = _build_on(tmp_path, "machine-c", _machine_config(tmp_path, "machine-c", s3_endpoint, True))
    assert (third["utterances_synthesized"], third["utterances_cached"]) == (1, spoken - 1)

    # The local mode, no shared tier, the same clips in its own cache: the same bytes as the machines above.
    shutil.copytree(tmp_path / "machine-a" / "cache", tmp_path / "machine-d" / "cache")
    alone, mp3_d = _build_on(tmp_path, "machine-d", _machine_config(tmp_path, "machine-d", s3_endpoint, False))
    assert (alone["utterances_synthesized"], alone["utterances_cached"]) == (0, spoken)
    assert mp3_d == mp3

"""The single writer of distributed mode: the publish task takes staged episodes from the staging store, checks
them, commits them to its store, regenerates feed and pages and uploads, then tells the build workers (through
Redis) what is published.

Its output folder (the store in .audio-edition/, episodes/, feed.xml, pages) is its state: keep it on a volume.

Each step leaves something the next publisher can finish, whatever the moment it is killed:
1. download every stage of the batch into .audio-edition/incoming/<stage>/ and check it (staging.download_episode);
2. move the files into episodes/<slug>/, commit the store, write feed.xml and the pages, upload (feed last);
3. write the articles' published state in Redis, mark the jobs published;
4. remove the staged objects.
Killed in 1 or 2 before the commit: the message comes back, the stage is still there, it is downloaded again.
Killed after the commit: the redelivered task finds the episode in the store but not in Redis, so it regenerates
and uploads again (idempotent: MP3s are never rewritten, other files go up only when their MD5 changed) before
saying so. Killed in 4: the job is published; the objects go on the next delivery or the sweep.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio_edition.config import Config
from audio_edition.errors import InputError
from audio_edition.fileio import OutputLock
from audio_edition.models import Episode, episode_from_dict
from audio_edition.publish.publisher import article_identity, publish
from audio_edition.publish.store import EpisodeStore, StoredEpisode, published_intact, store_path
from audio_edition.scale.jobs import BUILD_TASK, ArticleState, JobRegistry, settings
from audio_edition.scale.staging import (
    StageMissing,
    StageRejected,
    StagingStore,
    check_stage,
    download_episode,
    sweep,
)

log = logging.getLogger(__name__)

INCOMING_DIR = Path(".audio-edition") / "incoming"  # the publisher's downloads (a dot-path: never uploaded)
MAX_HANDOVER_FAILURES = 2  # a job whose stage is missing or rejected this many times fails instead of rebuilding
SWEPT_KEY = "audio-edition:staging-swept"  # SET NX with an expiry: the publisher sweeps at most this often


@dataclass(frozen=True)
class Fetched:
    job_id: str
    stage: str
    folder: Path
    episode: Episode
    identity: str
    download_s: float


def article_state(out_dir: Path, row: StoredEpisode) -> ArticleState:
    """What build workers may know of a stored article: its slug and GUID, and its script hash and MP3 only when
    its published episode is whole here (else they build it again)."""
    whole = published_intact(out_dir, row)
    return ArticleState(identity=row.identity, slug=row.slug, guid=row.guid,
                        script_hash=(row.script_hash or "") if whole else "",
                        audio_file=(row.audio_file or "") if whole else "")


def sync_published_state(out_dir: Path, jobs: JobRegistry) -> int:
    """At the publisher's start: Redis says what its store says (after a Redis restored from an old dump, a store
    filled by local builds, or an upgrade). Articles Redis thinks published that the store does not have are
    forgotten, so builders build them again. Returns the articles written."""
    rows: list[StoredEpisode] = []
    if store_path(out_dir).is_file():
        with EpisodeStore(out_dir, create=False) as store:
            rows = store.all()
    states = [article_state(out_dir, row) for row in rows]
    jobs.set_articles(states)
    known = {state.identity for state in states}
    jobs.forget_publication([i for i in jobs.article_identities() if i and i not in known])
    return len(states)


def publish_staged(config: Config, out_dir: Path, staging: StagingStore, jobs: JobRegistry, app, job_id: str,
                   stage: str) -> str:
    """The publish task: this stage and every other one waiting go out in one batch (one store transaction, one
    feed/pages regeneration and one upload for a burst of articles). Returns this job's outcome."""
    try:
        check_stage(stage)
    except StageRejected as exc:
        raise InputError(exc.message) from None
    with OutputLock(out_dir):
        waiting = sorted((j, s) for j, s in jobs.ready().items() if j != job_id)
        outcomes = _publish_batch(config, out_dir, staging, jobs, app, [(job_id, stage), *waiting])
    sweep_if_due(config, out_dir, staging, jobs)
    return outcomes[job_id]


def _publish_batch(config: Config, out_dir: Path, staging: StagingStore, jobs: JobRegistry, app,
                   batch: list[tuple[str, str]]) -> dict[str, str]:
    """Steps 1 to 4 (the caller holds the output lock). Returns each job's outcome."""
    outcomes: dict[str, str] = {}
    fetched: list[Fetched] = []
    for job_id, stage in batch:
        if (jobs.get(job_id) or {}).get("state") == "published":  # done by an earlier batch or delivery
            staging.delete_stage(stage)
            jobs.not_ready(job_id)
            outcomes[job_id] = "duplicate"
            continue
        jobs.update(job_id, state="publishing")
        folder = out_dir / INCOMING_DIR / stage
        started = time.monotonic()
        try:
            manifest = download_episode(staging, stage, folder)
        except (StageMissing, StageRejected) as exc:
            if isinstance(exc, StageRejected):
                staging.delete_stage(stage)
            shutil.rmtree(folder, ignore_errors=True)
            outcomes[job_id] = _handover_failed(config, staging, jobs, app, job_id, exc)
            continue
        data = json.loads((folder / "episode.json").read_text(encoding="utf-8"))
        episode = episode_from_dict(data, str(folder))
        identity = article_identity(episode.script.article)
        if identity != manifest.identity:
            staging.delete_stage(stage)
            outcomes[job_id] = _handover_failed(config, staging, jobs, app, job_id,
                                                StageRejected(f"stage {stage}: the record is another article's"))
            continue
        fetched.append(Fetched(job_id, stage, folder, episode, identity, time.monotonic() - started))

    accepted: list[Fetched] = []
    duplicates: list[Fetched] = []
    catch_up: set[str] = set()  # jobs committed by an earlier publisher, not yet uploaded or announced
    seen: set[str] = set()
    with EpisodeStore(out_dir) as store:
        for item in fetched:
            episode, identity = item.episode, item.identity
            row = store.by_identity(identity)
            holder = store.by_slug(episode.slug)
            already = row is not None and row.status == "published" and row.script_hash == episode.script_hash \
                and published_intact(out_dir, row)
            if already or identity in seen:
                # A retried or duplicated task: this audio is (or is about to be) in the feed. Never a second episode.
                duplicates.append(item)
                known = jobs.article(identity)
                if already and (known is None or known.script_hash != episode.script_hash):
                    catch_up.add(item.job_id)  # committed by a publisher that died before its upload and its word
            elif (holder is not None and holder.identity != identity) or (row is not None and row.slug != episode.slug):
                # The slug is another article's here (a local build took it), or this article has another slug
                # here: tell Redis what the store says, so the rebuild picks the right one.
                if holder is not None and holder.identity != identity:
                    jobs.hold_slug(holder.slug, holder.identity)
                if row is not None:
                    jobs.set_articles([article_state(out_dir, row)])
                staging.delete_stage(item.stage)
                shutil.rmtree(item.folder, ignore_errors=True)
                outcomes[item.job_id] = _rebuild(config, jobs, app, item.job_id, "slug taken meanwhile: rebuilding")
            else:
                seen.add(identity)
                accepted.append(item)

    if accepted:
        episodes = [dataclasses.replace(item.episode,
                                        directory=str(_move_into_place(out_dir, item.folder, item.episode.slug)))
                    for item in accepted]
        publish(out_dir, config, episodes)  # store commit, feed.xml + pages, upload (feed last)
        log.info("published %d episode(s) in one batch", len(accepted))
    elif catch_up:
        publish(out_dir, config, [])  # feed, pages and upload of what the store already holds
        log.info("completed the publication of an episode committed by an earlier publisher")

    done = accepted + duplicates
    if not done:
        return outcomes
    with EpisodeStore(out_dir, create=False) as store:
        rows = {item.identity: store.by_identity(item.identity) for item in done}
    jobs.set_articles([article_state(out_dir, row) for row in rows.values() if row is not None])
    first_time = {item.job_id for item in accepted} | catch_up
    for item in done:
        row = rows[item.identity]
        duplicate = item.job_id not in first_time
        jobs.update(item.job_id, state="published", error=None, slug=row.slug if row else item.episode.slug,
                    guid=row.guid if row else "", download_s=round(item.download_s, 4),
                    **({"duplicate": 1} if duplicate else {}))
        jobs.not_ready(item.job_id)
        staging.delete_stage(item.stage)
        shutil.rmtree(item.folder, ignore_errors=True)
        outcomes[item.job_id] = "duplicate" if duplicate else "published"
    return outcomes


def _handover_failed(config: Config, staging: StagingStore, jobs: JobRegistry, app, job_id: str,
                     exc: StageMissing | StageRejected) -> str:
    """A stage that is not there or does not check out: built again, a few times, then the job fails."""
    jobs.not_ready(job_id)
    failures = int(jobs.redis.hincrby(JobRegistry._key(job_id), "handover_failures", 1))
    log.warning("job %s: %s", job_id, exc.message)
    if failures > MAX_HANDOVER_FAILURES:
        hint = ("build workers on other machines need a staging store they all reach: set [distributed] staging "
                "(s3://BUCKET/PREFIX/ or a shared folder)" if isinstance(exc, StageMissing) else "enqueue it again")
        jobs.update(job_id, state="failed", error=f"{exc.message} (store: {staging.describe()}; {hint})")
        return "failed"
    return _rebuild(config, jobs, app, job_id, f"{exc.message}: rebuilding")


def _rebuild(config: Config, jobs: JobRegistry, app, job_id: str, why: str) -> str:
    jobs.not_ready(job_id)
    jobs.update(job_id, state="queued", error=why)
    app.send_task(BUILD_TASK, args=[job_id, jobs.payload(job_id) or {}], queue=settings(config).articles_queue)
    return "requeued"


def _move_into_place(out_dir: Path, incoming: Path, slug: str) -> Path:
    """Move a downloaded episode's files into episodes/<slug>/: the MP3 first (its name is its content, so one
    already there has the same bytes and stays untouched), episode.json last (a folder with an episode.json is
    whole)."""
    final_dir = out_dir / "episodes" / slug
    final_dir.mkdir(parents=True, exist_ok=True)
    names = sorted((p.name for p in incoming.iterdir() if p.is_file() and not p.name.startswith(".")),
                   key=lambda n: (not n.endswith(".mp3"), n == "episode.json", n))
    for name in names:
        target = final_dir / name
        if name.endswith(".mp3") and target.exists():
            continue
        os.replace(incoming / name, target)
    return final_dir


# --- the sweep -----------------------------------------------------------------------------------------------
def sweep_staging(config: Config, out_dir: Path, staging: StagingStore, jobs: JobRegistry,
                  older_than_s: float | None = None) -> list[str]:
    """Remove the staged objects of dead jobs (a worker killed mid-upload, a job that failed or was published
    while its objects stayed), and the publisher's leftover downloads, older than `staging_max_age_s`. Stages
    still waiting for the publisher are kept. Returns the stages removed."""
    age = settings(config).staging_max_age_s if older_than_s is None else older_than_s
    keep: set[str] = set()
    for job_id, stage in jobs.ready().items():
        job: dict[str, Any] = jobs.get(job_id) or {}
        if job.get("state") in ("built", "publishing", "running", "queued"):
            keep.add(stage)
        else:  # published, failed, or its record expired: nobody will publish it
            jobs.not_ready(job_id)
    removed = sweep(staging, age, keep)
    incoming = Path(out_dir) / INCOMING_DIR
    limit = time.time() - age
    if incoming.is_dir():
        for folder in incoming.iterdir():
            try:
                if folder.stat().st_mtime < limit:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass
    return removed


def sweep_if_due(config: Config, out_dir: Path, staging: StagingStore, jobs: JobRegistry) -> None:
    """After a publish batch: sweep, at most once per quarter of the maximum age (an hour at most)."""
    age = settings(config).staging_max_age_s
    if jobs.redis.set(SWEPT_KEY, "1", nx=True, ex=max(1, min(3600, age // 4))):
        sweep_staging(config, out_dir, staging, jobs)

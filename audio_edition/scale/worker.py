"""Newsroom scale: the pipeline as Celery tasks on a Redis broker.

    enqueue / webhook ──► [articles queue] build_article × N workers ──► [publish queue] publish_article × 1
                          source → script → clips → MP3 + transcripts       store commit, feed.xml, pages, S3 push
                          in <out>/.audio-edition/staging/<job>-<rand>/     (the single writer)

- One task per article, on any worker. Each worker process opens its voice once (a per-process SynthesisPool, in
  process: Celery's children cannot start a process pool of their own) and shares the clip cache.
- The publish task runs on a dedicated queue that exactly one worker consumes with concurrency 1, and holds the
  output folder's lock: the store and feed.xml keep a single writer, and a local `build` on the same folder waits.
- `acks_late` + `task_reject_on_worker_lost` + prefetch 1: a worker killed mid-article leaves its message
  unacknowledged, and Redis hands it to another worker after `visibility_timeout_s`.
- Idempotent: a retried or duplicated task builds in its own staging folder; the publish step compares the
  article's identity and script hash with the store and discards a second copy, so an article is published once.
  New slugs are claimed in Redis (SET NX) so two workers never give one slug to two articles.
- Batched publishing: the publisher also takes every other episode already built and waiting, so a burst of
  articles costs one store transaction, one feed/pages regeneration and one upload.

Job status lives in Redis (the result backend, default the broker): queued → running → built → published
(or unchanged, or failed; a site feed becomes "fanned-out" with one child job per item).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio_edition.audio.assemble import (
    check_audio_config,
)
from audio_edition.build.article import Placement, Reader, build_article
from audio_edition.config import Config
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.extract import extract_article
from audio_edition.extract.guards import check_article, guard_policy
from audio_edition.fileio import OutputLock
from audio_edition.models import Article, Script, SourceDocument, episode_from_dict
from audio_edition.publish.publisher import (
    article_identity,
    check_config,
    new_guid,
    publish,
)
from audio_edition.publish.store import EpisodeStore, published_intact, store_path
from audio_edition.scale.jobs import (
    BUILD_TASK,
    MAX_BUILD_RETRIES,
    PUBLISH_TASK,
    STAGING_DIR,
    JobRegistry,
    registry,
    require_broker,
    settings,
)
from audio_edition.scale.queue import _guarded_config, make_app, submit
from audio_edition.slug import slugify
from audio_edition.sources.reader import read_source
from audio_edition.sources.site_feed import articles_from_feed, is_feed
from audio_edition.sources.url_guard import UrlGuard
from audio_edition.speech.lexicon import load_lexicon
from audio_edition.speech.script import article_language, build_script
from audio_edition.voice.pool import SynthesisPool
from audio_edition.voice.spec import resolve_engine, resolve_engine_for

log = logging.getLogger(__name__)

# --- inside a worker -----------------------------------------------------------------------------------------
@dataclass
class WorkerContext:
    config: Config
    out_dir: Path
    app: Any = None
    jobs: JobRegistry | None = None


_CONTEXT: WorkerContext | None = None
_READERS: tuple[int, dict[str, Reader]] | None = None  # (pid, {language: Reader}): voices opened once
_BUILT_HERE = 0  # articles built by this process: the clip cache is pruned every PRUNE_EVERY of them
PRUNE_EVERY = 50


def worker_app(config: Config):
    """The Celery app with both tasks registered: what a worker runs."""
    app = make_app(config)
    app.task(bind=True, name=BUILD_TASK, max_retries=MAX_BUILD_RETRIES)(_build_article_task)
    app.task(bind=True, name=PUBLISH_TASK, max_retries=5)(_publish_article_task)
    return app


def configure_worker(config: Config, out_dir: Path, app) -> None:
    """Called once in the worker's main process before it starts (children inherit it when they fork)."""
    global _CONTEXT
    check_audio_config(config)
    check_config(config)
    resolve_engine(config.voice)  # a missing voice fails now, not in every task
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    _CONTEXT = WorkerContext(config=config, out_dir=Path(out_dir), app=app, jobs=registry(config))


def _context() -> WorkerContext:
    if _CONTEXT is None:
        raise AudioEditionError("worker not configured", "start workers with `audio-edition worker`")
    return _CONTEXT


def _reader(language: str = "fr") -> Reader:
    """This process's engine for LANGUAGE, opened once and kept for every article it builds (with the shared clip
    cache). Another language than French needs its voice configured ([voice.by_language], or espeak)."""
    global _READERS
    if _READERS is None or _READERS[0] != os.getpid():  # a forked child must not use its parent's session
        _READERS = (os.getpid(), {})
    readers = _READERS[1]
    if language not in readers:
        ctx = _context()
        spec = resolve_engine_for(ctx.config.voice, language, resolve_engine(ctx.config.voice))
        readers[language] = Reader(spec, SynthesisPool(spec, 1, ctx.config.clip_cache()))
        log.info("process %d opened voice %s (%s) for %s articles; it is kept for every article", os.getpid(),
                 spec.voice, spec.engine, language)
    return readers[language]


def _read_payload(payload: dict, config: Config, out_dir: Path) -> list[Article] | Article:
    """The article of a payload, or the articles of a site feed (a list)."""
    if "article" in payload:
        return Article.from_dict(payload["article"])
    if "document" in payload:
        d = payload["document"]
        doc = SourceDocument(text=d["text"], kind=d.get("kind", "html"), location=d.get("location") or "document",
                             url=d.get("url"))
    elif "html" in payload:
        doc = SourceDocument(text=payload["html"], kind="html", location="webhook", url=payload.get("url"))
    elif "url" in payload:
        guard = None
        if payload.get("untrusted"):  # from the webhook: every connection, redirects too, to a vetted address
            guard = UrlGuard(allow_private=settings(config).allow_private_urls)
        doc = read_source(payload["url"], config.limits, url_guard=guard)
    else:
        raise InputError("job has no article (expected url, html, document or article)")
    if is_feed(doc):
        if payload.get("untrusted"):
            raise InputError("site feeds are not accepted through the webhook",
                             "submit them with `audio-edition enqueue FEED_URL`")
        return articles_from_feed(doc, config.limits, out_dir=out_dir)
    return extract_article(doc, config.limits.max_blocks)


def _store_row(out_dir: Path, identity: str):
    """The store's row for an article (read only; None when there is no store yet)."""
    if not store_path(out_dir).is_file():
        return None
    with EpisodeStore(out_dir, create=False) as store:
        return store.by_identity(identity)


def _store_row_by_slug(out_dir: Path, slug: str):
    if not slug or not store_path(out_dir).is_file():
        return None
    with EpisodeStore(out_dir, create=False) as store:
        return store.by_slug(slug)


def _choose_slug(out_dir: Path, article: Article, identity: str, jobs: JobRegistry) -> str:
    """The slug for an article new to the store: its title's slug, claimed in Redis so no other worker takes it."""
    base = slugify(article.title)
    n = 1
    while True:
        slug = base if n == 1 else f"{base}-{n}"
        holder = _store_row_by_slug(out_dir, slug)
        # Like the local build: a folder the store does not know is not ours to write into.
        free = holder.identity == identity if holder is not None else not (out_dir / "episodes" / slug).exists()
        if free and jobs.claim_slug(slug, identity):
            return slug
        n += 1


def _build_article_task(task, job_id: str, payload: dict) -> str:
    """One article: source → script → clips → episode files in a staging folder, then hand it to the publisher."""
    ctx = _context()
    jobs = ctx.jobs
    assert jobs is not None
    jobs.started(job_id, task.request.hostname or "worker")
    try:
        return _build_article(task, ctx, job_id, payload)
    except InputError as exc:  # bad article (or refused by the content guards): retrying will not help
        jobs.update(job_id, state="failed", error=exc.one_line(), reason=getattr(exc, "reason", "input"))
        log.warning("job %s failed: %s", job_id, exc.one_line())
        return "failed"
    except Exception as exc:
        message = exc.one_line() if isinstance(exc, AudioEditionError) else f"{type(exc).__name__}: {exc}"
        if task.request.retries < MAX_BUILD_RETRIES:
            jobs.update(job_id, state="queued", error=f"retrying after: {message}")
            raise task.retry(countdown=5 * (task.request.retries + 1), exc=exc) from exc
        jobs.update(job_id, state="failed", error=message)
        log.error("job %s failed: %s", job_id, message)
        return "failed"


def _build_article(task, ctx: WorkerContext, job_id: str, payload: dict) -> str:
    out_dir, jobs = ctx.out_dir, ctx.jobs
    config = _guarded_config(ctx.config, payload)
    assert jobs is not None
    found = _read_payload(payload, config, out_dir)
    if isinstance(found, list):  # a site feed: one job per new item (each judged by the guards in its own job)
        extra = {"guards": payload["guards"]} if "guards" in payload else {}
        children = [submit(config, {"article": a.to_dict(), **extra}, a.url or a.title, app=ctx.app, jobs=jobs,
                           parent=job_id) for a in found]
        jobs.update(job_id, state="fanned-out", children=children)
        return "fanned-out"
    article = check_article(found, guard_policy(config))
    script: Script = build_script(article, config, load_lexicon(config.resolve(config.script.lexicon)))
    identity = article_identity(article)
    row = _store_row(out_dir, identity)

    staging: list[Path] = []

    def into_staging(script_hash: str) -> Placement:
        if row is not None and row.script_hash == script_hash and published_intact(out_dir, row):
            return Placement(row.slug, out_dir / "episodes" / row.slug, unchanged=True)
        slug = row.slug if row is not None else _choose_slug(out_dir, article, identity, jobs)
        # A folder of its own for every delivery of the task: a redelivered task never writes into another's.
        staging.append(out_dir / STAGING_DIR / f"{job_id}-{uuid.uuid4().hex[:8]}")
        return Placement(slug, staging[0])

    reader = _reader(article_language(article))
    try:
        result = build_article(script, reader, config, into_staging)
    except BaseException:
        for folder in staging:  # a half-built episode is never handed to the publisher
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if result.episode is None:
        assert row is not None
        jobs.update(job_id, state="unchanged", error=None, slug=row.slug, guid=row.guid)
        return "unchanged"
    global _BUILT_HERE
    _BUILT_HERE += 1
    if reader.pool.cache is not None and _BUILT_HERE % PRUNE_EVERY == 0:
        reader.pool.cache.prune()  # keep the shared cache under [cache] max_mb, as a local build does after each run
    staged = staging[0].name
    jobs.update(job_id, state="built", error=None, slug=result.slug,
                guid=row.guid if row is not None else new_guid(article), staging=staged)
    ctx.app.send_task(PUBLISH_TASK, args=[job_id, staged], queue=settings(config).publish_queue)
    return "built"


def _publish_article_task(task, job_id: str, staging_name: str) -> str:
    """The single writer: move a staged episode into episodes/<slug>/, commit it, regenerate feed and pages."""
    ctx = _context()
    jobs = ctx.jobs
    assert jobs is not None
    try:
        return _publish_article(ctx, job_id, staging_name)
    except InputError as exc:
        jobs.update(job_id, state="failed", error=exc.one_line())
        return "failed"
    except Exception as exc:
        message = exc.one_line() if isinstance(exc, AudioEditionError) else f"{type(exc).__name__}: {exc}"
        if task.request.retries < task.max_retries:
            raise task.retry(countdown=2, exc=exc) from exc
        jobs.update(job_id, state="failed", error=message)
        return "failed"


def _publish_article(ctx: WorkerContext, job_id: str, staging_name: str) -> str:
    out_dir, jobs = ctx.out_dir, ctx.jobs
    assert jobs is not None
    staging = out_dir / STAGING_DIR / Path(staging_name).name  # a name, never a path from the message
    if not (staging / "episode.json").is_file():
        job = jobs.get(job_id) or {}
        if job.get("state") in ("published", "unchanged"):  # published in an earlier batch, or a duplicate delivery
            return "duplicate"
        # The publisher died after moving the files (episode.json goes last) and committing, before saying so.
        row = _store_row_by_slug(out_dir, job.get("slug") or "")
        if published_intact(out_dir, row):
            jobs.update(job_id, state="published", error=None, slug=row.slug, guid=row.guid)
            return "published"
        raise InputError(f"staged episode {staging_name} is missing", "enqueue the article again")

    with OutputLock(out_dir):
        # Every other episode already built and waiting goes out in the same batch: one store transaction, one
        # feed/pages regeneration and one upload for a burst of articles, instead of one per article.
        batch = [(job_id, staging)] + _ready_stagings(out_dir, jobs, exclude=staging)
        outcomes = _publish_batch(ctx, batch)
    _clean_stale_staging(out_dir)
    return outcomes[job_id]


def _ready_stagings(out_dir: Path, jobs: JobRegistry, exclude: Path) -> list[tuple[str, Path]]:
    """Staged episodes whose build finished and handed them to the publisher (job "built" with this folder)."""
    root = out_dir / STAGING_DIR
    ready = []
    for folder in sorted(root.iterdir()):
        if folder == exclude or not (folder / "episode.json").is_file():
            continue
        other = folder.name.rsplit("-", 1)[0]
        record = jobs.redis.hmget(JobRegistry._key(other), "state", "staging")
        if record == ["built", folder.name]:
            ready.append((other, folder))
    return ready


def _publish_batch(ctx: WorkerContext, batch: list[tuple[str, Path]]) -> dict[str, str]:
    """Commit staged episodes (the caller holds the output lock). Returns each job's outcome."""
    out_dir, jobs = ctx.out_dir, ctx.jobs
    assert jobs is not None
    outcomes: dict[str, str] = {}
    accepted: list[tuple[str, Path, Any]] = []
    seen: set[str] = set()
    with EpisodeStore(out_dir) as store:
        for job_id, staging in batch:
            data = json.loads((staging / "episode.json").read_text(encoding="utf-8"))
            episode = episode_from_dict(data, str(staging))
            identity = article_identity(episode.script.article)
            row = store.by_identity(identity)
            holder = store.by_slug(episode.slug)
            already = row is not None and row.status == "published" and row.script_hash == episode.script_hash \
                and published_intact(out_dir, row)
            if already or identity in seen:
                # A retried or duplicated task: this audio is (or is about to be) in the feed. Never a second episode.
                shutil.rmtree(staging, ignore_errors=True)
                jobs.update(job_id, state="published", error=None, slug=episode.slug,
                            guid=row.guid if row is not None else "", duplicate=1)
                outcomes[job_id] = "duplicate"
            elif (holder is not None and holder.identity != identity) or (row is not None and row.slug != episode.slug):
                # Someone (a local build) took this slug meanwhile: build again, the slug will be chosen anew.
                shutil.rmtree(staging, ignore_errors=True)
                jobs.update(job_id, state="queued", error="slug taken meanwhile: rebuilding")
                ctx.app.send_task(BUILD_TASK, args=[job_id, jobs.payload(job_id) or {}],
                                  queue=settings(ctx.config).articles_queue)
                outcomes[job_id] = "requeued"
            else:
                seen.add(identity)
                accepted.append((job_id, staging, episode))
    if not accepted:
        return outcomes

    episodes = [dataclasses.replace(episode, directory=str(_move_into_place(out_dir, staging, episode.slug)))
                for _, staging, episode in accepted]
    publish(out_dir, ctx.config, episodes)
    with EpisodeStore(out_dir, create=False) as store:
        guids = {e.slug: (row.guid if (row := store.by_slug(e.slug)) else "") for e in episodes}
    for (job_id, staging, episode) in accepted:
        shutil.rmtree(staging, ignore_errors=True)
        jobs.update(job_id, state="published", error=None, slug=episode.slug, guid=guids[episode.slug])
        outcomes[job_id] = "published"
    log.info("published %d episode(s) in one batch", len(accepted))
    return outcomes


def _move_into_place(out_dir: Path, staging: Path, slug: str) -> Path:
    """Move a staged episode's files into episodes/<slug>/: the MP3 first (its name is its content, so one already
    there has the same bytes and stays untouched), episode.json last (a folder with an episode.json is whole)."""
    final_dir = out_dir / "episodes" / slug
    final_dir.mkdir(parents=True, exist_ok=True)
    names = sorted((p.name for p in staging.iterdir() if p.is_file() and not p.name.startswith(".")),
                   key=lambda n: (not n.endswith(".mp3"), n == "episode.json", n))
    for name in names:
        target = final_dir / name
        if name.endswith(".mp3") and target.exists():
            continue
        os.replace(staging / name, target)
    return final_dir


def _clean_stale_staging(out_dir: Path, older_than_s: float = 2 * 24 * 3600) -> None:
    """Staging folders left by workers killed mid-article (their task ran again elsewhere)."""
    root = out_dir / STAGING_DIR
    if not root.is_dir():
        return
    limit = time.time() - older_than_s
    for folder in root.iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


# --- running a worker ----------------------------------------------------------------------------------------
def run_worker(config: Config, out_dir: Path, queues: list[str] | None, concurrency: int,
               loglevel: str = "INFO") -> None:
    """`audio-edition worker`: consume `queues` (default: the articles queue) until stopped.

    Concurrency 1 runs tasks in the worker process itself (solo pool: one process, one voice); more starts a
    prefork pool, each child with its own voice."""
    d = require_broker(config)
    app = worker_app(config)
    queues = queues or [d.articles_queue]
    if d.publish_queue in queues and concurrency != 1:
        raise InputError(f"the {d.publish_queue!r} queue must be consumed with --concurrency 1",
                         "it is the single writer of the store and feed.xml")
    configure_worker(config, out_dir, app)
    # A worker runs for days: its log lines need times.
    logging.basicConfig(level=loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    argv = ["worker", "--queues", ",".join(queues), "--concurrency", str(concurrency),
            "--pool", "solo" if concurrency == 1 else "prefork", "--loglevel", loglevel,
            "--hostname", f"audio-edition-{os.getpid()}@%h",
            # no gossip/mingle/heartbeat: workers need not know each other, and start in a second
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
    app.worker_main(argv)

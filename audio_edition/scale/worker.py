"""Newsroom scale: the pipeline as Celery tasks on a Redis broker, on machines that share nothing but Redis and
an object store.

    enqueue / webhook ──► [articles queue] build_article × N workers ──► [publish queue] publish_article × 1
                          source → script → clips → MP3 + transcripts       download + check, store commit,
                          uploaded to the staging store (manifest last)     feed.xml, pages, S3 push (single writer)

- One task per article, on any worker. Each worker process opens its voice once (a per-process SynthesisPool, in
  process: Celery's children cannot start a process pool of their own) with its clip cache (and the cache's
  shared tier, when configured).
- A build worker reads nothing of the publisher's folder: what is published (slug, GUID, script hash per article)
  comes from Redis, where the publisher writes it after each commit; new slugs are claimed there (SET NX).
- Built episodes travel through the staging store (scale/staging.py: an S3 prefix, or a folder on one machine);
  the publisher (scale/publisher.py) downloads, checks, commits, publishes and removes them.
- The publish task runs on a dedicated queue that exactly one worker consumes with concurrency 1, and holds the
  output folder's lock: the store and feed.xml keep a single writer, and a local `build` on the same folder waits.
- `acks_late` + `task_reject_on_worker_lost` + prefetch 1: a worker killed mid-article leaves its message
  unacknowledged, and Redis hands it to another worker after `visibility_timeout_s`.
- Idempotent: a retried or duplicated task builds in its own stage; the publish step compares the article's
  identity and script hash with the store and discards a second copy, so an article is published once.

Job status lives in Redis (the result backend, default the broker): queued → running → built → published
(or unchanged, or failed; a site feed becomes "fanned-out" with one child job per item).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio_edition.audio.assemble import check_audio_config
from audio_edition.build.article import Placement, Reader, build_article
from audio_edition.config import Config
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.extract import extract_article
from audio_edition.extract.guards import check_article, guard_policy
from audio_edition.models import Article, Script, SourceDocument
from audio_edition.publish.publisher import article_identity, check_config, new_guid
from audio_edition.scale.jobs import (
    BUILD_TASK,
    BUILDING_DIR,
    MAX_BUILD_RETRIES,
    PUBLISH_TASK,
    JobRegistry,
    registry,
    require_broker,
    settings,
)
from audio_edition.scale.publisher import publish_staged, sync_published_state
from audio_edition.scale.queue import _guarded_config, make_app, submit
from audio_edition.scale.staging import StagingStore, new_stage, staging_store, upload_episode
from audio_edition.slug import slugify
from audio_edition.sources.reader import read_source
from audio_edition.sources.site_feed import articles_from_feed, is_feed
from audio_edition.sources.url_guard import UrlGuard
from audio_edition.speech.lexicon import load_lexicon
from audio_edition.speech.script import article_language, build_script
from audio_edition.voice.clip_cache import open_clip_cache
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
    staging: StagingStore | None = None


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


def configure_worker(config: Config, out_dir: Path, app, *, publisher: bool = False) -> None:
    """Called once in the worker's main process before it starts (children inherit it when they fork). The
    publisher first tells Redis what its store holds."""
    global _CONTEXT
    check_audio_config(config)
    check_config(config)
    resolve_engine(config.voice)  # a missing voice fails now, not in every task
    open_clip_cache(config)  # a malformed [cache] shared fails now too
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clean_scratch(out_dir, settings(config).staging_max_age_s)
    jobs = registry(config)
    _CONTEXT = WorkerContext(config=config, out_dir=out_dir, app=app, jobs=jobs,
                             staging=staging_store(config, out_dir))
    if publisher:
        log.info("publisher: %d article(s) of the store written to Redis", sync_published_state(out_dir, jobs))


def _clean_scratch(out_dir: Path, older_than_s: float) -> None:
    """Scratch folders of builds killed on this machine (their task ran again elsewhere)."""
    root = out_dir / BUILDING_DIR
    if not root.is_dir():
        return
    limit = time.time() - older_than_s
    for folder in root.iterdir():
        try:
            if folder.stat().st_mtime < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


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
        readers[language] = Reader(spec, SynthesisPool(spec, 1, open_clip_cache(ctx.config)))
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


def _choose_slug(article: Article, identity: str, jobs: JobRegistry) -> str:
    """The slug for an article new to the publisher: its title's slug, claimed in Redis so no other worker takes it
    (the publisher holds there every slug its store has given)."""
    base = slugify(article.title)
    n = 1
    while True:
        slug = base if n == 1 else f"{base}-{n}"
        if jobs.claim_slug(slug, identity):
            return slug
        n += 1


def _build_article_task(task, job_id: str, payload: dict) -> str:
    """One article: source → script → clips → episode files, uploaded to the staging store for the publisher."""
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
    out_dir, jobs, staging = ctx.out_dir, ctx.jobs, ctx.staging
    config = _guarded_config(ctx.config, payload)
    assert jobs is not None and staging is not None
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
    known = jobs.article(identity)  # what the publisher has for it: this machine's own folder knows nothing

    scratch: list[Path] = []

    def into_scratch(script_hash: str) -> Placement:
        if known is not None and known.script_hash == script_hash:
            return Placement(known.slug, out_dir / "episodes" / known.slug, unchanged=True)
        slug = known.slug if known is not None else _choose_slug(article, identity, jobs)
        # A folder of its own for every delivery of the task: a redelivered task never writes into another's.
        scratch.append(out_dir / BUILDING_DIR / new_stage(job_id))
        return Placement(slug, scratch[0])

    reader = _reader(article_language(article))
    before = dataclasses.replace(reader.pool.stats)
    try:
        # The article's image is fetched for someone else too: the same address check as its page.
        result = build_article(script, reader, config, into_scratch,
                               url_guard=UrlGuard(allow_private=settings(config).allow_private_urls))
        spoken = {"spoken": reader.pool.stats.synthesized - before.synthesized,
                  "cached": reader.pool.stats.cached - before.cached}
        if result.episode is None:
            assert known is not None
            jobs.update(job_id, state="unchanged", error=None, slug=known.slug, guid=known.guid)
            return "unchanged"
        stage = scratch[0].name
        started = time.monotonic()
        upload_episode(staging, stage, job_id, identity, result.episode)
        upload_s = time.monotonic() - started
    finally:
        for folder in scratch:  # uploaded, or half built: never handed over from here
            shutil.rmtree(folder, ignore_errors=True)
    global _BUILT_HERE
    _BUILT_HERE += 1
    if reader.pool.cache is not None and _BUILT_HERE % PRUNE_EVERY == 0:
        reader.pool.cache.prune()  # keep the local cache under [cache] max_mb, as a local build does after each run
    jobs.update(job_id, state="built", error=None, slug=result.slug,
                guid=known.guid if known is not None and known.guid else new_guid(article), staging=stage,
                upload_s=round(upload_s, 4), **spoken)
    jobs.mark_ready(job_id, stage)
    ctx.app.send_task(PUBLISH_TASK, args=[job_id, stage], queue=settings(config).publish_queue)
    log.info("job %s: %s built and staged in %s (%d sentence(s) spoken, %d from the cache)", job_id, result.slug,
             staging.describe(), spoken["spoken"], spoken["cached"])
    return "built"


def _publish_article_task(task, job_id: str, stage: str) -> str:
    """The single writer: fetch a staged episode, check it, commit it, regenerate feed and pages, upload."""
    ctx = _context()
    jobs = ctx.jobs
    assert jobs is not None and ctx.staging is not None
    try:
        return publish_staged(ctx.config, ctx.out_dir, ctx.staging, jobs, ctx.app, job_id, stage)
    except InputError as exc:
        jobs.update(job_id, state="failed", error=exc.one_line())
        return "failed"
    except Exception as exc:
        message = exc.one_line() if isinstance(exc, AudioEditionError) else f"{type(exc).__name__}: {exc}"
        if task.request.retries < task.max_retries:
            raise task.retry(countdown=2, exc=exc) from exc
        jobs.update(job_id, state="failed", error=message)
        return "failed"


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
    configure_worker(config, out_dir, app, publisher=d.publish_queue in queues)
    # A worker runs for days: its log lines need times.
    logging.basicConfig(level=loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    argv = ["worker", "--queues", ",".join(queues), "--concurrency", str(concurrency),
            "--pool", "solo" if concurrency == 1 else "prefork", "--loglevel", loglevel,
            "--hostname", f"audio-edition-{os.getpid()}@%h",
            # no gossip/mingle/heartbeat: workers need not know each other, and start in a second
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
    app.worker_main(argv)

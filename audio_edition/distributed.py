"""Newsroom scale: the pipeline as Celery tasks on a Redis broker (issue 9).

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
from urllib.parse import urlsplit

from .config import Config, DistributedConfig
from .errors import AudioEditionError, InputError
from .models import Article, Script, SourceDocument

log = logging.getLogger(__name__)

ENV_BROKER = "AUDIO_EDITION_BROKER_URL"
ENV_BACKEND = "AUDIO_EDITION_RESULT_BACKEND"
ENV_TOKEN = "AUDIO_EDITION_API_TOKEN"

BUILD_TASK = "audio_edition.build_article"
PUBLISH_TASK = "audio_edition.publish_article"
STAGING_DIR = Path(".audio-edition") / "staging"  # a dot-path: never served, never uploaded

DONE_STATES = ("published", "unchanged", "failed")
JOB_TTL_S = 14 * 24 * 3600
SLUG_CLAIM_TTL_S = 30 * 24 * 3600
MAX_BUILD_RETRIES = 2


# --- settings ------------------------------------------------------------------------------------------------
def settings(config: Config) -> DistributedConfig:
    """The [distributed] settings with the environment's overrides applied."""
    d = config.distributed
    return dataclasses.replace(
        d,
        broker_url=os.environ.get(ENV_BROKER) or d.broker_url,
        result_backend=os.environ.get(ENV_BACKEND) or d.result_backend,
        api_token=os.environ.get(ENV_TOKEN) or d.api_token,
    )


def require_broker(config: Config) -> DistributedConfig:
    """The settings, or a one-line InputError (exit 2) when no broker is configured."""
    d = settings(config)
    if not d.broker_url:
        raise InputError("no broker configured: distributed mode needs Redis",
                         f"set {ENV_BROKER}=redis://HOST:6379/0 or [distributed] broker_url; "
                         "`audio-edition build` works without one")
    if not d.broker_url.startswith(("redis://", "rediss://", "unix://")):
        raise InputError(f"unsupported broker {d.broker_url.split(':', 1)[0]}://", "use a Redis URL: redis://HOST:6379/0")
    return d


def _backend_url(d: DistributedConfig) -> str:
    return d.result_backend or d.broker_url or ""


def _import_celery():
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        raise InputError("distributed mode needs Celery and redis-py",
                         "pip install 'audio-edition[distributed]'") from None


# --- job status ----------------------------------------------------------------------------------------------
class JobRegistry:
    """Job records in Redis: one hash per job (state, source, slug, error…) and a time-ordered index."""

    INDEX = "audio-edition:jobs"

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)

    @staticmethod
    def _key(job_id: str) -> str:
        return f"audio-edition:job:{job_id}"

    def create(self, job_id: str, source: str, payload: dict, parent: str | None = None) -> None:
        now = time.time()
        record = {"id": job_id, "state": "queued", "source": source, "payload": json.dumps(payload),
                  "created": now, "updated": now, "attempts": 0}
        if parent:
            record["parent"] = parent
        pipe = self.redis.pipeline()
        pipe.hset(self._key(job_id), mapping=record)
        pipe.expire(self._key(job_id), JOB_TTL_S)
        pipe.zadd(self.INDEX, {job_id: now})
        pipe.execute()

    def update(self, job_id: str, **fields: Any) -> None:
        fields["updated"] = time.time()
        values = {k: (json.dumps(v) if isinstance(v, (list, dict)) else "" if v is None else v)
                  for k, v in fields.items()}
        self.redis.hset(self._key(job_id), mapping=values)

    def started(self, job_id: str, worker: str) -> int:
        """Mark a job running on `worker`; returns how many times it has been started (redeliveries count)."""
        attempts = self.redis.hincrby(self._key(job_id), "attempts", 1)
        self.update(job_id, state="running", worker=worker)
        return int(attempts)

    def get(self, job_id: str) -> dict | None:
        data = self.redis.hgetall(self._key(job_id))
        if not data:
            return None
        return _public_job(data)

    def payload(self, job_id: str) -> dict | None:
        raw = self.redis.hget(self._key(job_id), "payload")
        return json.loads(raw) if raw else None

    def recent(self, limit: int = 50) -> list[dict]:
        ids = self.redis.zrevrange(self.INDEX, 0, max(limit - 1, 0))
        jobs = [self.get(job_id) for job_id in ids]
        return [job for job in jobs if job is not None]

    def queue_lengths(self, *queues: str) -> dict[str, int]:
        """Messages waiting in the broker per queue (kombu keeps a Redis list per queue name)."""
        return {q: int(self.redis.llen(q)) for q in queues}

    def claim_slug(self, slug: str, identity: str) -> bool:
        """Reserve `slug` for the article `identity` across every worker (atomic SET NX)."""
        key = f"audio-edition:slug:{slug}"
        if self.redis.set(key, identity, nx=True, ex=SLUG_CLAIM_TTL_S):
            return True
        return self.redis.get(key) == identity


def _public_job(data: dict) -> dict:
    """A job record as the API and `status` show it (without the submitted payload)."""
    job: dict[str, Any] = {"id": data.get("id"), "state": data.get("state"), "source": data.get("source")}
    for name in ("slug", "guid", "error", "reason", "worker", "parent", "duplicate"):
        if data.get(name):
            job[name] = data[name]
    if data.get("children"):
        job["children"] = json.loads(data["children"])
    job["attempts"] = int(data.get("attempts") or 0)
    for name in ("created", "updated"):
        if data.get(name):
            job[name] = float(data[name])
    return job


def registry(config: Config) -> JobRegistry:
    """The job registry, after checking that Redis answers (one line, not a traceback, when it does not)."""
    _import_celery()
    import redis

    url = _backend_url(require_broker(config))
    jobs = JobRegistry(url)
    try:
        jobs.redis.ping()
    except redis.RedisError as exc:
        where = urlsplit(url)
        raise AudioEditionError(f"cannot reach Redis at {where.hostname}:{where.port or 6379}: {exc}",
                                "start redis-server or check AUDIO_EDITION_BROKER_URL") from None
    return jobs


# --- the Celery app ------------------------------------------------------------------------------------------
def make_app(config: Config):
    """The Celery app, configured from [distributed] (and the environment), with both tasks registered."""
    _import_celery()
    from celery import Celery

    d = require_broker(config)
    app = Celery("audio_edition", broker=d.broker_url, backend=_backend_url(d))
    app.conf.update(
        task_acks_late=True,  # acknowledge after the task, so a dead worker's article is redelivered
        task_reject_on_worker_lost=True,  # a child killed mid-task puts its message back
        worker_prefetch_multiplier=1,  # a worker holds one article at a time: no article stuck behind a slow one
        task_ignore_result=True,  # job status is in the JobRegistry
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_default_queue=d.articles_queue,
        task_routes={BUILD_TASK: {"queue": d.articles_queue}, PUBLISH_TASK: {"queue": d.publish_queue}},
        broker_transport_options={
            "visibility_timeout": d.visibility_timeout_s,
            # kombu sweeps for expired unacknowledged messages every interval × throttle seconds (100 s by
            # default); one cheap Redis query every few seconds brings a dead worker's article back sooner.
            "unacked_restore_interval": min(10, max(1, d.visibility_timeout_s // 4)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    app.task(bind=True, name=BUILD_TASK, max_retries=MAX_BUILD_RETRIES)(_build_article_task)
    app.task(bind=True, name=PUBLISH_TASK, max_retries=5)(_publish_article_task)
    return app


# --- submitting ----------------------------------------------------------------------------------------------
def submit(config: Config, payload: dict, source: str, *, app=None, jobs: JobRegistry | None = None,
           parent: str | None = None) -> str:
    """Record a job and send its build task. Returns the job id."""
    d = require_broker(config)
    app = app or make_app(config)
    jobs = jobs or registry(config)
    job_id = uuid.uuid4().hex
    jobs.create(job_id, source, payload, parent=parent)
    app.send_task(BUILD_TASK, args=[job_id, payload], task_id=job_id, queue=d.articles_queue)
    return job_id


def guard_settings(config: Config) -> dict:
    """What the content guards let through, as the enqueuing side set it (--lang, --allow-partial): carried in
    every payload, so the worker judges the article as the user asked."""
    return {"allow_languages": list(config.script.allow_languages), "allow_partial": config.script.allow_partial}


def _guarded_config(config: Config, payload: dict) -> Config:
    guards = payload.get("guards")
    if not isinstance(guards, dict):
        return config
    return config.replace("script", allow_languages=tuple(guards.get("allow_languages") or ("fr",)),
                          allow_partial=bool(guards.get("allow_partial")))


def payloads_for_sources(sources: list[str], config: Config,
                         skipped: list[tuple[str, str]] | None = None) -> list[tuple[str, dict]]:
    """What `enqueue` sends for each SOURCE: local files are read here (workers may be on other machines) and a
    local site feed is split into one article per new item; URLs are fetched by the worker (a feed URL fans out
    there). Local articles are judged by the content guards here too, so a refused one is said at once. With
    SKIPPED, a source (or feed item) that is refused or unreadable is added to it, (what, one line), and the
    others go on; without, it raises."""
    from .extract import extract_article
    from .extract.guards import check_article, guard_policy
    from .site_feed import articles_from_feed, is_feed
    from .source import expand_sources, read_source

    out_dir = Path(settings(config).output_dir)
    policy = guard_policy(config)
    guards = {"guards": guard_settings(config)}
    result: list[tuple[str, dict]] = []
    for location in expand_sources(list(sources)):
        if location.lower().startswith(("http://", "https://")):
            result.append((location, {"url": location, **guards}))
            continue
        try:
            doc = read_source(location, config.limits)
            if not is_feed(doc):
                check_article(extract_article(doc), policy)
                result.append((location, {"document": {"text": doc.text, "kind": doc.kind,
                                                       "location": doc.location, "url": doc.url}, **guards}))
                continue
            failures: list[tuple[str, InputError]] = []
            for article in articles_from_feed(doc, config.limits, out_dir=out_dir,
                                              failures=failures if skipped is not None else None):
                try:
                    check_article(article, policy)
                except InputError as exc:
                    failures.append((article.url or article.title, exc))
                    continue
                result.append((article.url or article.title, {"article": article.to_dict(), **guards}))
            if failures and skipped is None:
                raise failures[0][1]
            for what, exc in failures:
                skipped.append((what, exc.one_line() if what in exc.message else f"{what}: {exc.one_line()}"))
        except InputError as exc:
            if skipped is None:
                raise
            skipped.append((location, exc.one_line() if location in exc.message else f"{location}: {exc.one_line()}"))
    return result


# --- inside a worker -----------------------------------------------------------------------------------------
@dataclass
class WorkerContext:
    config: Config
    out_dir: Path
    app: Any = None
    jobs: JobRegistry | None = None


_CONTEXT: WorkerContext | None = None
_POOL: tuple[int, dict] | None = None  # (pid, {language: (EngineSpec, SynthesisPool)}): voices opened once
_BUILT_HERE = 0  # articles built by this process: the clip cache is pruned every PRUNE_EVERY of them
PRUNE_EVERY = 50


def configure_worker(config: Config, out_dir: Path, app) -> None:
    """Called once in the worker's main process before it starts (children inherit it when they fork)."""
    from .assemble import check_audio_config
    from .publish import check_config
    from .speak import resolve_engine

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


def _synthesis_pool(language: str = "fr"):
    """This process's engine for LANGUAGE, opened once and kept for every article it builds (with the shared clip
    cache). Another language than French needs its voice configured ([voice.by_language], or espeak)."""
    from .speak import SynthesisPool, resolve_engine, resolve_engine_for

    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():  # a forked child must not use its parent's session
        _POOL = (os.getpid(), {})
    pools = _POOL[1]
    if language not in pools:
        ctx = _context()
        spec = resolve_engine_for(ctx.config.voice, language, resolve_engine(ctx.config.voice))
        pools[language] = (spec, SynthesisPool(spec, 1, ctx.config.clip_cache()))
        log.info("process %d opened voice %s (%s) for %s articles; it is kept for every article", os.getpid(),
                 spec.voice, spec.engine, language)
    return pools[language]


def _read_payload(payload: dict, config: Config, out_dir: Path) -> list[Article] | Article:
    """The article of a payload, or the articles of a site feed (a list)."""
    from .extract import extract_article
    from .site_feed import articles_from_feed, is_feed
    from .source import read_source

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
        if payload.get("untrusted"):  # from the webhook: check again here (DNS may have changed), and redirects
            from functools import partial

            from .api import check_url_allowed

            guard = partial(check_url_allowed, allow_private=settings(config).allow_private_urls)
        doc = read_source(payload["url"], config.limits, url_guard=guard)
    else:
        raise InputError("job has no article (expected url, html, document or article)")
    if is_feed(doc):
        if payload.get("untrusted"):
            raise InputError("site feeds are not accepted through the webhook",
                             "submit them with `audio-edition enqueue FEED_URL`")
        return articles_from_feed(doc, config.limits, out_dir=out_dir)
    return extract_article(doc)


def _store_row(out_dir: Path, identity: str):
    """The store's row for an article (read only; None when there is no store yet)."""
    from .store import EpisodeStore, store_path

    if not store_path(out_dir).is_file():
        return None
    with EpisodeStore(out_dir, create=False) as store:
        return store.by_identity(identity)


def _store_row_by_slug(out_dir: Path, slug: str):
    from .store import EpisodeStore, store_path

    if not slug or not store_path(out_dir).is_file():
        return None
    with EpisodeStore(out_dir, create=False) as store:
        return store.by_slug(slug)


def _choose_slug(out_dir: Path, article: Article, identity: str, jobs: JobRegistry) -> str:
    """The slug for an article new to the store: its title's slug, claimed in Redis so no other worker takes it."""
    from .slug import slugify

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


def _intact(episode_dir: Path, audio_file: str | None) -> bool:
    return bool(audio_file) and (episode_dir / "episode.json").is_file() and (episode_dir / audio_file).is_file()


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
            raise task.retry(countdown=5 * (task.request.retries + 1), exc=exc)
        jobs.update(job_id, state="failed", error=message)
        log.error("job %s failed: %s", job_id, message)
        return "failed"


def _build_article(task, ctx: WorkerContext, job_id: str, payload: dict) -> str:
    from .assemble import assemble_episode, compute_script_hash
    from .build import audio_settings
    from .lexicon import load_lexicon
    from .publish import article_identity, new_guid
    from .script import build_script

    from .extract.guards import check_article, guard_policy
    from .script import article_language

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
    spec, pool = _synthesis_pool(article_language(article))
    settings_ = {"voice": pool.voice_id, "audio": audio_settings(config)}
    script_hash = compute_script_hash(script, pool.engine_name, spec.voice, settings_)
    identity = article_identity(article)

    row = _store_row(out_dir, identity)
    if row is not None and row.status == "published" and row.script_hash == script_hash \
            and _intact(out_dir / "episodes" / row.slug, row.audio_file):
        jobs.update(job_id, state="unchanged", error=None, slug=row.slug, guid=row.guid)
        return "unchanged"
    slug = row.slug if row is not None else _choose_slug(out_dir, article, identity, jobs)

    staging = out_dir / STAGING_DIR / f"{job_id}-{uuid.uuid4().hex[:8]}"  # unique per delivery of the task
    clips = pool.synthesize(script.utterances)
    global _BUILT_HERE
    _BUILT_HERE += 1
    if pool.cache is not None and _BUILT_HERE % PRUNE_EVERY == 0:
        pool.cache.prune()  # keep the shared cache under [cache] max_mb, as a local build does after each run
    try:
        assemble_episode(script, clips, config, staging, slug, spec.voice, pool.engine_name, script_hash=script_hash)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a half-built episode is never handed to the publisher
        raise
    jobs.update(job_id, state="built", error=None, slug=slug, guid=row.guid if row is not None else new_guid(article),
                staging=staging.name)
    ctx.app.send_task(PUBLISH_TASK, args=[job_id, staging.name], queue=settings(config).publish_queue)
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
            raise task.retry(countdown=2, exc=exc)
        jobs.update(job_id, state="failed", error=message)
        return "failed"


def _publish_article(ctx: WorkerContext, job_id: str, staging_name: str) -> str:
    from .fileio import OutputLock

    out_dir, jobs = ctx.out_dir, ctx.jobs
    assert jobs is not None
    staging = out_dir / STAGING_DIR / Path(staging_name).name  # a name, never a path from the message
    if not (staging / "episode.json").is_file():
        job = jobs.get(job_id) or {}
        if job.get("state") in ("published", "unchanged"):  # published in an earlier batch, or a duplicate delivery
            return "duplicate"
        # The publisher died after moving the files (episode.json goes last) and committing, before saying so.
        row = _store_row_by_slug(out_dir, job.get("slug") or "")
        if row is not None and row.status == "published" and _intact(out_dir / "episodes" / row.slug, row.audio_file):
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
    from .models import episode_from_dict
    from .publish import article_identity, publish
    from .store import EpisodeStore

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
                and _intact(out_dir / "episodes" / row.slug, row.audio_file)
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
    app = make_app(config)
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

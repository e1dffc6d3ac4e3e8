"""The Celery app and what is sent to it: one build task per article, from the CLI or the webhook."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from audio_edition.config import Config
from audio_edition.errors import InputError
from audio_edition.extract import extract_article
from audio_edition.extract.guards import check_article, guard_policy
from audio_edition.scale.jobs import (
    BUILD_TASK,
    PUBLISH_TASK,
    JobRegistry,
    backend_url,
    registry,
    require_broker,
    require_celery,
    settings,
)
from audio_edition.sources.reader import expand_sources, read_source
from audio_edition.sources.site_feed import articles_from_feed, is_feed

log = logging.getLogger(__name__)

# --- the Celery app ------------------------------------------------------------------------------------------
def make_app(config: Config):
    """The Celery app, configured from [distributed] (and the environment). Enough to send tasks by name; a
    worker registers the tasks themselves (`scale.worker.worker_app`)."""
    require_celery()
    from celery import Celery  # lazy: Celery comes with the distributed extra: only for workers and enqueueing

    d = require_broker(config)
    app = Celery("audio_edition", broker=d.broker_url, backend=backend_url(d))
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
                check_article(extract_article(doc, config.limits.max_blocks), policy)
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
            for what, refusal in failures:
                assert skipped is not None
                skipped.append((what, refusal.one_line() if what in refusal.message
                                else f"{what}: {refusal.one_line()}"))
        except InputError as exc:
            if skipped is None:
                raise
            skipped.append((location, exc.one_line() if location in exc.message else f"{location}: {exc.one_line()}"))
    return result

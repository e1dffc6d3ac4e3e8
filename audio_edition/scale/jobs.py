"""Job status in Redis and the [distributed] settings (the broker, the result backend, the API token)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from audio_edition.config import Config, DistributedConfig
from audio_edition.errors import AudioEditionError, InputError

if TYPE_CHECKING:  # redis comes with the distributed extra
    from redis.typing import EncodableT, FieldT

log = logging.getLogger(__name__)

ENV_BROKER = "AUDIO_EDITION_BROKER_URL"
ENV_BACKEND = "AUDIO_EDITION_RESULT_BACKEND"
ENV_TOKEN = "AUDIO_EDITION_API_TOKEN"

BUILD_TASK = "audio_edition.build_article"
PUBLISH_TASK = "audio_edition.publish_article"
BUILDING_DIR = Path(".audio-edition") / "building"  # a build worker's scratch folders (a dot-path: never uploaded)

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


def backend_url(d: DistributedConfig) -> str:
    return d.result_backend or d.broker_url or ""


def require_celery():
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError:
        raise InputError("distributed mode needs Celery and redis-py",
                         "pip install 'audio-edition[distributed]'") from None


# --- what is published, as build workers see it --------------------------------------------------------------
@dataclass(frozen=True)
class ArticleState:
    """An article as the publisher last left it, written in Redis after each commit and upload: what a build
    worker on any machine needs to reuse the article's slug and to skip an unchanged article. `script_hash` and
    `audio_file` are empty while the article has a slug but no published episode."""

    identity: str
    slug: str
    guid: str = ""
    script_hash: str = ""
    audio_file: str = ""


# --- job status ----------------------------------------------------------------------------------------------
class JobRegistry:
    """Job records in Redis: one hash per job (state, source, slug, error…) and a time-ordered index."""

    INDEX = "audio-edition:jobs"

    def __init__(self, url: str) -> None:
        import redis  # lazy: redis-py comes with the distributed extra: only for workers and enqueueing

        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)

    @staticmethod
    def _key(job_id: str) -> str:
        return f"audio-edition:job:{job_id}"

    def create(self, job_id: str, source: str, payload: dict, parent: str | None = None) -> None:
        now = time.time()
        record: dict[FieldT, EncodableT] = {"id": job_id, "state": "queued", "source": source, "payload": json.dumps(payload),
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
        values: dict[FieldT, EncodableT] = {k: (json.dumps(v) if isinstance(v, (list, dict)) else "" if v is None else v)
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
        jobs = [self.get(str(job_id)) for job_id in ids]
        return [job for job in jobs if job is not None]

    def queue_lengths(self, *queues: str) -> dict[str, int]:
        """Messages waiting in the broker per queue (kombu keeps a Redis list per queue name)."""
        return {q: int(self.redis.llen(q)) for q in queues}

    @staticmethod
    def _slug_key(slug: str) -> str:
        return f"audio-edition:slug:{slug}"

    def claim_slug(self, slug: str, identity: str) -> bool:
        """Reserve `slug` for the article `identity` across every worker (atomic SET NX). A claim nobody
        publishes expires; the publisher makes the slugs it publishes permanent (`hold_slug`)."""
        key = self._slug_key(slug)
        if self.redis.set(key, identity, nx=True, ex=SLUG_CLAIM_TTL_S):
            return True
        return self.redis.get(key) == identity

    def hold_slug(self, slug: str, identity: str) -> None:
        """The publisher's word, from its store: `slug` belongs to `identity`, for good."""
        self.redis.set(self._slug_key(slug), identity)

    # The published state (ArticleState), one hash per article, and the stages waiting for the publisher.
    ARTICLES = "audio-edition:article:"
    READY = "audio-edition:ready"  # job id -> stage: built, uploaded and handed to the publisher

    @classmethod
    def _article_key(cls, identity: str) -> str:
        return cls.ARTICLES + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:40]

    def article(self, identity: str) -> ArticleState | None:
        data = self.redis.hgetall(self._article_key(identity))
        if not data or data.get("identity") != identity or not data.get("slug"):
            return None
        return ArticleState(**{f.name: str(data.get(f.name) or "") for f in dataclasses.fields(ArticleState)})

    def set_articles(self, states: list[ArticleState]) -> None:
        """Record articles as the publisher's store has them (and hold their slugs), in one round trip."""
        pipe = self.redis.pipeline()
        for state in states:
            pipe.delete(self._article_key(state.identity))
            fields: dict[FieldT, EncodableT] = {"identity": state.identity, "slug": state.slug, "guid": state.guid,
                                               "script_hash": state.script_hash, "audio_file": state.audio_file}
            pipe.hset(self._article_key(state.identity), mapping=fields)
            pipe.set(self._slug_key(state.slug), state.identity)
        pipe.execute()

    def article_identities(self) -> list[str]:
        return [str(self.redis.hget(key, "identity") or "") for key in self.redis.scan_iter(f"{self.ARTICLES}*")]

    def forget_publication(self, identities: list[str]) -> None:
        """The publisher's store has no published episode for these: builders must build them again."""
        pipe = self.redis.pipeline()
        for identity in identities:
            pipe.hset(self._article_key(identity), mapping={"script_hash": "", "audio_file": ""})
        pipe.execute()

    def mark_ready(self, job_id: str, stage: str) -> None:
        self.redis.hset(self.READY, job_id, stage)

    def ready(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.redis.hgetall(self.READY).items()}

    def not_ready(self, job_id: str) -> None:
        self.redis.hdel(self.READY, job_id)


def _public_job(data: dict) -> dict:
    """A job record as the API and `status` show it (without the submitted payload)."""
    job: dict[str, Any] = {"id": data.get("id"), "state": data.get("state"), "source": data.get("source")}
    for name in ("slug", "guid", "error", "reason", "worker", "parent", "duplicate"):
        if data.get(name):
            job[name] = data[name]
    if data.get("children"):
        job["children"] = json.loads(data["children"])
    job["attempts"] = int(data.get("attempts") or 0)
    for name in ("spoken", "cached"):  # sentences the build spoke, and took from the clip cache
        if data.get(name, "") != "":
            job[name] = int(data[name])
    for name in ("created", "updated"):
        if data.get(name):
            job[name] = float(data[name])
    return job


def registry(config: Config) -> JobRegistry:
    """The job registry, after checking that Redis answers (one line, not a traceback, when it does not)."""
    require_celery()
    import redis  # lazy: redis-py comes with the distributed extra: only for workers and enqueueing

    url = backend_url(require_broker(config))
    jobs = JobRegistry(url)
    try:
        jobs.redis.ping()
    except redis.RedisError as exc:
        where = urlsplit(url)
        raise AudioEditionError(f"cannot reach Redis at {where.hostname}:{where.port or 6379}: {exc}",
                                "start redis-server or check AUDIO_EDITION_BROKER_URL") from None
    return jobs

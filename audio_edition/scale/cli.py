"""The terminal side of distributed mode: `audio-edition enqueue [--wait]` and `audio-edition status`."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.scale.jobs import DONE_STATES, JobRegistry, registry, require_broker
from audio_edition.scale.publisher import sweep_staging
from audio_edition.scale.queue import make_app, payloads_for_sources, submit
from audio_edition.scale.staging import staging_store


@dataclass(frozen=True)
class Enqueued:
    ids: list[str]  # the jobs submitted
    skipped: list[str]  # one line per article refused or unreadable (here, or by a worker with --wait)


def enqueue_sources(config: Config, sources: list[str], *, wait: bool = False, timeout: float | None = None,
                    console: Console | None = None, err_console: Console | None = None) -> Enqueued:
    """Submit every article of `sources`; with `wait`, follow the jobs until each is done.

    An article refused by the content guards or unreadable is named on stderr and the others go on; when none is
    left (or, with `wait`, none was published), it is an InputError."""
    require_broker(config)  # before reading any source: no broker, one clear line
    out = console or Console()
    err = err_console or Console(stderr=True)
    refused: list[tuple[str, str]] = []
    payloads = payloads_for_sources(sources, config, refused)
    skipped = [line for _, line in refused]
    for line in skipped:
        err.print(f"audio-edition: skipped {line}", highlight=False, markup=False, soft_wrap=True)
    if skipped and not payloads:
        raise InputError(f"nothing to enqueue: {len(skipped)} article(s) refused or unreadable (named above)")
    app, jobs = make_app(config), registry(config)
    ids = [submit(config, payload, source, app=app, jobs=jobs) for source, payload in payloads]
    for job_id, (source, _) in zip(ids, payloads):
        out.print(f"{job_id}  {source}", highlight=False, markup=False, soft_wrap=True)
    if not wait:
        out.print(f"{len(ids)} job(s) queued; follow them with `audio-edition status`"
                  + (f"; {len(skipped)} article(s) skipped" if skipped else ""), highlight=False)
        return Enqueued(ids, skipped)
    current = _wait(jobs, ids, timeout, err)
    failed = [job for job in current if job["state"] == "failed"]
    for job in failed:
        line = f"{job.get('source')}: {job.get('error', '?')}"
        err.print(f"audio-edition: failed {line}", highlight=False, markup=False, soft_wrap=True)
        skipped.append(line)
    if failed and len(failed) == len(current):
        error = InputError if all(job.get("reason") for job in failed) else AudioEditionError
        raise error(f"{len(failed)} article(s) failed, none published (named above)", "see `audio-edition status`")
    out.print(f"{len(current) - len(failed)} job(s) done" + (f", {len(skipped)} article(s) skipped or failed"
                                                             if skipped else ""), highlight=False)
    return Enqueued(ids, skipped)


def _expand(jobs: JobRegistry, ids: list[str]) -> list[dict]:
    """The jobs to follow: a site feed's job is replaced by its items' jobs once it has fanned out."""
    result: list[dict] = []
    for job_id in ids:
        job = jobs.get(job_id) or {"id": job_id, "state": "queued", "source": "?"}
        if job.get("state") == "fanned-out":
            result.extend(_expand(jobs, job.get("children", [])))
        else:
            result.append(job)
    return result


def _wait(jobs: JobRegistry, ids: list[str], timeout: float | None, err: Console) -> list[dict]:
    started = time.monotonic()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as progress:
        bar = progress.add_task("Published", total=len(ids))
        while True:
            current = _expand(jobs, ids)
            states = Counter(job["state"] for job in current)
            done = sum(states[s] for s in DONE_STATES)
            progress.update(bar, total=len(current), completed=done,
                            description=f"Published ({states['running']} running, {states['queued']} queued)")
            if done == len(current) and all(j["state"] != "fanned-out" for j in current):
                return current
            if timeout is not None and time.monotonic() - started > timeout:
                raise AudioEditionError(f"timed out after {timeout:g} s: {len(current) - done} job(s) not done",
                                        "the workers go on; follow them with `audio-edition status`")
            time.sleep(0.5)


def print_status(config: Config, *, limit: int = 20, as_json: bool = False, console: Console | None = None) -> None:
    d = require_broker(config)
    out = console or Console()
    jobs = registry(config)
    recent = jobs.recent(limit)
    counts = Counter(job["state"] for job in jobs.recent(10_000))
    waiting = jobs.queue_lengths(d.articles_queue, d.publish_queue)
    if as_json:
        out.print_json(json.dumps({"counts": dict(counts), "broker_queues": waiting, "jobs": recent},
                                  ensure_ascii=False))
        return
    summary = ", ".join(f"{counts[s]} {s}" for s in ("queued", "running", "built", "publishing", "failed", "published",
                                                               "unchanged")
                        if counts[s])
    out.print(f"jobs: {summary or 'none'}", highlight=False)
    out.print("in the broker: " + ", ".join(f"{q} {n}" for q, n in waiting.items()), highlight=False)
    for job in recent:
        line = f"{job['state']:<10} {job['id']}  {job.get('slug') or job.get('source')}"
        if job["state"] == "failed" and job.get("error"):
            line += f"  — {job['error']}"
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def sweep_staged(config: Config, out_dir: Path, older_than_s: float | None = None,
                 console: Console | None = None) -> list[str]:
    """`audio-edition sweep`: remove staged objects of dead jobs (see scale/publisher.sweep_staging); the
    publisher also does it after its batches. Run it on the publisher's machine (it cleans its downloads too)."""
    require_broker(config)
    out = console or Console()
    store = staging_store(config, out_dir)
    removed = sweep_staging(config, out_dir, store, registry(config), older_than_s)
    out.print(f"{len(removed)} stage(s) removed from {store.describe()}", highlight=False, markup=False,
              soft_wrap=True)
    return removed

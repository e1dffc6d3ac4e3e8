#!/usr/bin/env python3
"""Distributed mode on this machine: articles per minute with 1, 2 and 3 build workers that share nothing but Redis
and an S3-compatible bucket, and what the object-storage hand-over costs per article.

    python bench/scale.py [--articles 6] [--paragraphs 3] [--voice PATH]

Starts its own redis-server and moto S3 server on free loopback ports. For each run: one publisher worker
(`--queues publish`, its own output folder, publishing to the bucket) and 1, 2 or 3 build workers (`--queues
articles --concurrency 1`), each with its own output folder, as on separate machines; built episodes travel through
the bucket's staging prefix. The clip cache is off (every article is really spoken). Workers are up and idle before
the clock starts; the clock runs from the first submitted job to the last published one. The local reference is
`audio-edition build --jobs 1` of the same articles (one synthesis process, like one worker), timed by its own
--stats-json.

- Queue overhead per article = (1-worker wall time − local build wall time) / articles: broker round trips, job
  records, the hand-over, and a store commit + feed/pages regeneration + bucket upload per publish batch.
- Hand-over per article = the build worker's upload of the staged files + the publisher's download and check
  (sizes, sha256, the MP3 decoded by ffmpeg), from the job records (`upload_s`, `download_s`).

Uses the medium-cost benchmark voice (bench/make_bench_voice.py) by default.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, audio_edition, ensure_voice, write_results
from articles import article_html


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    sys.exit("redis-server did not start")


BUCKET = "bench-podcast"


def start_moto(workdir: Path) -> tuple[subprocess.Popen, str]:
    binary = Path(sys.executable).with_name("moto_server")
    if not binary.exists():
        sys.exit("moto_server is not installed (pip install 'moto[server]', in the test extra)")
    port = free_port()
    proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=workdir)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    sys.exit("moto_server did not start")


def write_config(path: Path, voice: Path, broker: str, out: Path, s3: str | None = None) -> None:
    bucket = f"""
[podcast]
base_url = "{s3}/{BUCKET}/"
[publish]
target = "s3"
endpoint_url = "{s3}"
bucket = "{BUCKET}"
""" if s3 else ""
    path.write_text(f"""
[voice]
voice = "{voice}"
[cache]
enabled = false
[distributed]
broker_url = "{broker}"
output_dir = "{out}"
""" + bucket, encoding="utf-8")


def start_worker(config: Path, queues: str, log: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(audio_edition("--config", str(config), "worker", "--queues", queues,
                                          "--concurrency", "1"),
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def empty_bucket(s3: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])


def wait_ready(logs: list[Path], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(log.exists() and " ready." in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.2)
    sys.exit("workers did not start: " + " ".join(str(log) for log in logs))


def distributed_run(workers: int, sources: Path, voice: Path, broker: str, s3: str, work: Path, env: dict) -> dict:
    from audio_edition.config import load_config
    from audio_edition.scale.jobs import JobRegistry
    from audio_edition.scale.queue import make_app, payloads_for_sources, submit

    empty_bucket(s3)
    JobRegistry(broker).redis.flushdb()
    # One config file and one output folder per "machine": the publisher's, and each build worker's.
    machines = ["publisher"] + [f"builder-{i}" for i in range(workers)]
    configs = {}
    for name in machines:
        configs[name] = work / f"run-{workers}" / name / "audio-edition.toml"
        configs[name].parent.mkdir(parents=True)
        write_config(configs[name], voice, broker, configs[name].parent / "out", s3)
    config_path = configs["publisher"]
    logs = [configs[name].parent / "worker.log" for name in machines]
    procs = [start_worker(config_path, "publish", logs[0], env)]
    procs += [start_worker(configs[name], "articles", log, env) for name, log in zip(machines[1:], logs[1:])]
    try:
        wait_ready(logs)
        config = load_config(config_path)
        app, jobs = make_app(config), JobRegistry(broker)
        started = time.monotonic()
        ids = [submit(config, payload, source, app=app, jobs=jobs)
               for source, payload in payloads_for_sources([str(sources)], config)]
        while True:
            states = [jobs.get(i)["state"] for i in ids]
            if all(s in ("published", "failed") for s in states):
                break
            time.sleep(0.1)
        wall = time.monotonic() - started
        if "failed" in states:
            sys.exit(f"a job failed: see {work}")
        records = [jobs.redis.hgetall(JobRegistry._key(i)) for i in ids]
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    n = len(ids)
    upload = sum(float(r.get("upload_s") or 0) for r in records) / n
    download = sum(float(r.get("download_s") or 0) for r in records) / n
    return {"workers": workers, "articles": n, "wall_seconds": round(wall, 2),
            "articles_per_minute": round(n / wall * 60, 2),
            "handover_upload_seconds_per_article": round(upload, 3),
            "handover_download_check_seconds_per_article": round(download, 3)}


def local_run(sources: Path, voice: Path, work: Path, env: dict) -> dict:
    config_path = work / "local.toml"
    out = work / "out-local"
    write_config(config_path, voice, "redis://unused", out)
    stats = work / "local-stats.json"
    started = time.monotonic()
    subprocess.run(audio_edition("--config", str(config_path), "build", str(sources), "--out", str(out),
                                 "--jobs", "1", "--stats-json", str(stats)),
                   env=env, check=True, stdout=subprocess.DEVNULL)
    process_wall = time.monotonic() - started
    data = json.loads(stats.read_text())
    return {"wall_seconds": round(data["wall_seconds"], 2), "process_wall_seconds": round(process_wall, 2),
            "articles": data["built"], "audio_seconds": round(data["audio_seconds"], 1),
            "articles_per_minute": round(data["built"] / data["wall_seconds"] * 60, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=6)
    parser.add_argument("--paragraphs", type=int, default=3)
    parser.add_argument("--voice", type=Path, default=None, help="default: the medium-cost benchmark voice")
    args = parser.parse_args()
    voice = args.voice or ensure_voice()

    work = Path(tempfile.mkdtemp(prefix="audio-edition-scale-"))
    sources = work / "articles"
    sources.mkdir()
    for n in range(args.articles):
        (sources / f"article-{n + 1:02d}.html").write_text(article_html(n, args.paragraphs), encoding="utf-8")
    env = dict(os.environ, XDG_CACHE_HOME=str(work / "xdg"), PYTHONPATH=str(REPO))
    env.pop("AUDIO_EDITION_BROKER_URL", None)
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
    redis, broker = start_redis(work)
    moto, s3 = start_moto(work)
    try:
        local = local_run(sources, voice, work, env)
        print(f"local build --jobs 1: {local['wall_seconds']} s, {local['articles_per_minute']} articles/min",
              file=sys.stderr)
        runs = []
        for workers in (1, 2, 3):
            runs.append(distributed_run(workers, sources, voice, broker, s3, work, env))
            print(f"{workers} build worker(s): {runs[-1]['wall_seconds']} s, {runs[-1]['articles_per_minute']} "
                  f"articles/min, hand-over {runs[-1]['handover_upload_seconds_per_article']} s up + "
                  f"{runs[-1]['handover_download_check_seconds_per_article']} s down per article", file=sys.stderr)
    finally:
        for service in (redis, moto):
            service.terminate()
            service.wait()
    one, two, three = runs
    handover = [r["handover_upload_seconds_per_article"] + r["handover_download_check_seconds_per_article"]
                for r in runs]
    results = {
        "machine": {"cpus": len(os.sched_getaffinity(0)), "load_average_1min": round(os.getloadavg()[0], 2)},
        "voice": voice.name,
        "articles": args.articles,
        "paragraphs": args.paragraphs,
        "local_build_jobs1": local,
        "distributed": runs,
        "scaling_ratio_2_vs_1": round(two["articles_per_minute"] / one["articles_per_minute"], 2),
        "scaling_ratio_3_vs_1": round(three["articles_per_minute"] / one["articles_per_minute"], 2),
        "queue_overhead_seconds_per_article": round((one["wall_seconds"] - local["wall_seconds"]) / args.articles, 2),
        "handover_seconds_per_article": round(sum(handover) / len(handover), 3),
        "handover_share_of_local_article": round(sum(handover) / len(handover)
                                                 / (local["wall_seconds"] / local["articles"]), 4),
    }
    path = write_results("scale", results)
    print(json.dumps(results, indent=2))
    print(f"results: {path}", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""What every benchmark needs: paths, the benchmark voice, and running a command while sampling its memory.

Peak RSS is the peak of the *sum* of the resident set sizes of the command and all its descendants (the spawn
workers of a build, ffmpeg), sampled every 50 ms with psutil (PSS every 0.5 s: reading it costs CPU). Shared
pages (onnxruntime's library, numpy) are counted once per process, so the figure errs on the high side — the
safe side for a memory budget. The peak of the summed PSS (proportional set size: shared pages split between the
processes sharing them) is kept too.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
DATA = BENCH / "data"
VOICE = BENCH / "voices" / "fr_FR-bench-medium.onnx"
PYTHON = sys.executable
SAMPLE_EVERY_S = 0.05
PSS_EVERY = 10  # PSS reads /proc/PID/smaps, which costs real CPU: every 10th sample (0.5 s) only


@dataclass
class Run:
    wall_seconds: float
    peak_rss_bytes: int
    returncode: int
    peak_pss_bytes: int = 0
    stdout: str = ""
    stderr: str = ""
    stats: dict = field(default_factory=dict)  # the build's --stats-json, when it wrote one
    cpu_seconds: float = 0.0  # user + system time of the process and every child it waited for (ffmpeg...)
    system_seconds: float = 0.0  # the system (kernel) part of it
    page_faults: int = 0  # minor page faults of the same: pages the kernel had to hand the processes


def ensure_voice() -> Path:
    """The benchmark voice, generated on first use (needs the `bench` extra: torch)."""
    if not VOICE.is_file() or not Path(f"{VOICE}.json").is_file():
        print(f"generating the benchmark voice {VOICE} (torch, about a minute)...", file=sys.stderr)
        subprocess.run([PYTHON, str(BENCH / "make_bench_voice.py"), "--out", str(VOICE)], check=True)
    return VOICE


def _tree_memory(proc: psutil.Process, with_pss: bool) -> tuple[int, int]:
    """(sum of RSS, sum of PSS or 0) over PROC and its descendants."""
    rss = pss = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for member in members:
        try:
            if with_pss:
                info = member.memory_full_info()
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
            else:
                rss += member.memory_info().rss
        except psutil.Error:  # a worker that just exited
            pass
    return rss, pss


def run(args: list[str], *, stdin: str | None = None, env: dict | None = None, stats_file: Path | None = None,
        cwd: Path | None = None) -> Run:
    """Run ARGS (an argument list, never a shell string), timing it and sampling the RSS of its process tree."""
    full_env = dict(os.environ, **(env or {}))
    if stats_file is not None:
        stats_file.unlink(missing_ok=True)
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, cwd=cwd, text=True)
    watched = psutil.Process(proc.pid)
    peak = peak_pss = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss
        count = 0
        while not stop.is_set():
            rss, pss = _tree_memory(watched, with_pss=count % PSS_EVERY == 0)
            count += 1
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            stop.wait(SAMPLE_EVERY_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(stdin)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    system = after.ru_stime - before.ru_stime
    faults = after.ru_minflt - before.ru_minflt
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, args))}\n{err[-2000:]}")
    stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file and stats_file.is_file() else {}
    return Run(wall, peak, proc.returncode, peak_pss, out, err, stats, cpu, system, faults)


def audio_edition(*args: str) -> list[str]:
    return [PYTHON, "-m", "audio_edition", *args]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.0f} MB"


def write_results(name: str, results: dict) -> Path:
    """bench/results/NAME.json (atomic), read by run_all.py and quoted in bench/README.md."""
    out = BENCH / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out

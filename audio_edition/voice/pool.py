"""Parallel synthesis of a script's utterances: `synthesize_clips` / `SynthesisPool`, utterances in, `Clip`s
(16-bit PCM) out in the same order.

An engine whose class says `parallel_threads = True` (Piper) is opened once in this process and shared by a thread
pool: one model in memory instead of one per worker, one arena shared, and no process start-up. The threads take
the texts in script order (the episode is assembled as they come); for a voice run whole, the longest first, and
what runs at once stays under a memory budget weighted by phonemes (`_SharedWork`). espeak-ng synthesises under one
global lock, so threads would take turns: it keeps a pool of spawned worker processes, each opening the engine once
for every task (and every article of a build)."""

from __future__ import annotations

import ctypes
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

from audio_edition.errors import AudioEditionError, InputError
from audio_edition.models import Clip, Utterance, to_pcm16
from audio_edition.voice.clip_cache import ClipCache, clip_key
from audio_edition.voice.clip_spool import ClipSpool
from audio_edition.voice.engines import describe_engine, engine_class, open_engine
from audio_edition.voice.piper import check_voice
from audio_edition.voice.spec import Engine, EngineSpec

log = logging.getLogger(__name__)


_WORKER_ENGINE: Engine | None = None
_WORKER_ERROR: tuple[str, str, str | None] | None = None


def _error_value(exc: AudioEditionError) -> tuple[str, str, str | None]:
    return type(exc).__name__, exc.message, exc.hint


def _init_worker(spec: EngineSpec) -> None:
    # An exception here would break the pool with an unreadable error: keep it, every task returns it.
    global _WORKER_ENGINE, _WORKER_ERROR
    try:
        _WORKER_ENGINE = open_engine(spec)
    except AudioEditionError as exc:
        _WORKER_ERROR = _error_value(exc)


def _timed_pcm16(engine: Engine, spoken: str) -> tuple[np.ndarray, float]:
    """The engine's audio as 16-bit PCM (what the cache stores and the Clip carries), and the seconds the engine
    took. Converted where it was synthesised: half the bytes to hold, and to pickle back from a worker process."""
    started = time.perf_counter()
    samples = engine.synthesize(spoken)
    seconds = time.perf_counter() - started
    return to_pcm16(samples), seconds


TRIM_ABOVE_BYTES = 16 << 20  # free memory a heap keeps at its top before handing it back (docs/speed.md)
HEAP_PAD_BYTES = 4 << 20  # and how much more it asks for when it grows
_LIBC: ctypes.CDLL | bool | None = None  # False: looked for once, not there


def _glibc():
    """glibc through ctypes, or None elsewhere (musl, macOS): only used to hand freed memory back to the system."""
    global _LIBC
    if _LIBC is None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            _LIBC = libc
        except (OSError, AttributeError):
            _LIBC = False
    return _LIBC or None


def _map_large_blocks() -> None:
    """Blocks of 1 MB and more come straight from the system (unless a heap's free top holds them already) and go
    straight back when freed. glibc's default raises that threshold to 32 MB as soon as one large block is freed,
    after which the arena's freed blocks and the assembly's arrays stay in the heap, counted in the process's
    size, until the process ends. Smaller blocks are kept for reuse up to TRIM_ABOVE_BYTES free at a heap's top,
    the heap growing by HEAP_PAD_BYTES at a time: with glibc's default (hand back anything over 128 kB at once)
    the assembly's working arrays were new pages for the kernel to fault in every time. Each heap (arena) keeps
    that much, and glibc makes up to eight per core for the build's threads: one per core keeps threads from
    waiting on each other and the peak where it was (docs/speed.md)."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD (fixed: no more dynamic raising)
        libc.mallopt(-1, TRIM_ABOVE_BYTES)  # M_TRIM_THRESHOLD
        libc.mallopt(-2, HEAP_PAD_BYTES)  # M_TOP_PAD
        libc.mallopt(-8, default_jobs())  # M_ARENA_MAX


def _give_back_freed_memory() -> None:
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class _OpenedAhead:
    """A voice being opened in a background thread (open_ahead): its engine once opened (None if it failed)."""

    def __init__(self, spec: EngineSpec) -> None:
        self.engine: Engine | None = None
        self.thread = threading.Thread(target=self._open, args=(spec,), name="open voice", daemon=True)
        self.thread.start()

    def _open(self, spec: EngineSpec) -> None:
        try:
            self.engine = open_engine(spec)
        except Exception:  # the pool opens it again in its own thread, where the error is reported in one line
            pass


_AHEAD: dict[EngineSpec, _OpenedAhead] = {}
_AHEAD_LOCK = threading.Lock()


def open_ahead(spec: EngineSpec, jobs: int | None = None) -> None:
    """Start opening SPEC's voice in a background thread, for the pool that will speak with it in this process
    (Piper on threads, or jobs=1): the build reads and scripts its articles on one core meanwhile, so the voice's
    load (onnxruntime's sessions: docs/speed.md) no longer comes before the first sentence. onnxruntime builds its
    sessions without holding the GIL. Not for an engine run in worker processes (espeak with jobs > 1)."""
    if max(1, jobs if jobs is not None else default_jobs()) > 1 and not engine_class(spec).parallel_threads:
        return
    with _AHEAD_LOCK:
        if spec not in _AHEAD:
            _map_large_blocks()  # before the model's memory is allocated, as SynthesisPool does
            _AHEAD[spec] = _OpenedAhead(spec)


def _take_opened_ahead(spec: EngineSpec) -> Engine | None:
    """The engine open_ahead opened for SPEC (waiting for it if it is still loading), or None."""
    with _AHEAD_LOCK:
        ahead = _AHEAD.pop(spec, None)
    if ahead is None:
        return None
    ahead.thread.join()
    return ahead.engine


def drop_opened_ahead() -> None:
    """Let go of voices opened ahead that no pool took (every article unchanged, or the build failed first)."""
    with _AHEAD_LOCK:
        waiting = list(_AHEAD.values())
        _AHEAD.clear()
    for ahead in waiting:
        ahead.thread.join()


class _SharedWork:
    """The utterances waiting for the synthesis threads. An engine whose runs stop growing past some length (a
    split Piper voice: `bounded_runs`) gets them in script order, so that the episode can be assembled as they
    come (build.article.InScriptOrder). Otherwise what is being spoken at the same moment never weighs more than a
    budget (a run's memory grows with its audio: docs/speed.md; weight = phonemes, see PiperEngine.cost): at most
    (threads + 1) / 2 times the heaviest, and a thread takes the heaviest waiting text that fits — a long one
    pairs with a shorter one, and the run ends on short texts, so the threads finish together. Each result says
    where it goes."""

    def __init__(self, items: list[tuple[int, str, int]], threads: int, bounded_runs: bool = False) -> None:
        self.budget = math.inf if bounded_runs else max(cost for _, _, cost in items) * (threads + 1) / 2
        self.waiting = list(items) if bounded_runs else sorted(items, key=lambda item: -item[2])
        self.in_flight = 0
        self.changed = threading.Condition()

    def take(self) -> tuple[int, str, int]:
        with self.changed:
            while True:
                for n, item in enumerate(self.waiting):
                    if self.in_flight == 0 or self.in_flight + item[2] <= self.budget:
                        del self.waiting[n]
                        self.in_flight += item[2]
                        return item
                self.changed.wait()

    def finished(self, item: tuple[int, str, int]) -> None:
        with self.changed:
            self.in_flight -= item[2]
            self.changed.notify_all()


class CoreTurns:
    """The cores, shared by the voice's threads and other work of the build that should be done while the voice
    speaks (the episode's first MP3 parts). A thread takes a core for each text it speaks; other work asks for one
    and gets the next core a thread lets go, the threads waiting meanwhile: never more runs than cores (a third
    run beside two busy voice threads slows the voice more than it saves: docs/speed.md)."""

    def __init__(self, cores: int) -> None:
        self.free = cores
        self.others_waiting = 0
        self.changed = threading.Condition()

    @contextmanager
    def voice(self) -> Iterator[None]:
        with self.changed:
            while self.free == 0 or self.others_waiting:
                self.changed.wait()
            self.free -= 1
        try:
            yield
        finally:
            self._give_back()

    @contextmanager
    def other(self) -> Iterator[None]:
        with self.changed:
            self.others_waiting += 1
            while self.free == 0:
                self.changed.wait()
            self.free -= 1
            self.others_waiting -= 1
            if self.free:  # a thread that waited for this one can take the core left
                self.changed.notify_all()
        try:
            yield
        finally:
            self._give_back()

    def _give_back(self) -> None:
        with self.changed:
            self.free += 1
            self.changed.notify_all()


def _synthesize_shared(engine: Engine, work: _SharedWork, turns: CoreTurns) -> tuple[int, np.ndarray, float]:
    """Runs in a synthesis thread: one utterance from the shared work -> (its position, PCM, engine seconds)."""
    item = work.take()
    try:
        with turns.voice():
            return (item[0], *_timed_pcm16(engine, item[1]))
    finally:
        work.finished(item)


def _synthesize_in_worker(spoken: str) -> tuple[np.ndarray | None, float, tuple[str, str, str | None] | None]:
    """Runs in a worker process: our errors come back as values (their hint does not survive pickling as an
    exception)."""
    if _WORKER_ENGINE is None:
        return None, 0.0, _WORKER_ERROR or ("AudioEditionError", "the synthesis worker has no engine", None)
    try:
        samples, seconds = _timed_pcm16(_WORKER_ENGINE, spoken)
        return samples, seconds, None
    except AudioEditionError as exc:
        return None, 0.0, _error_value(exc)


@dataclass
class SynthesisStats:
    """What a pool did: for the build summary and the benchmarks."""

    synthesized: int = 0  # utterances sent to the engine
    cached: int = 0  # utterances served from the clip cache
    engine_seconds: float = 0.0  # time inside engine.synthesize, summed over threads / workers
    engines_opened: int = 0  # voice loads in this process (jobs=1, or threads) or worker process pools started
    longest_spoken: int = 0  # characters of the longest text sent to the engine (memory grows with it)
    voice_load_seconds: float = 0.0  # opening the engine in this process (threads / jobs=1), part of the phase


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class SynthesisPool:
    """Engines kept open across calls, so every article of a build reuses the loaded voice.

    - jobs=1: the engine in this process, called in the calling thread.
    - jobs>1, an engine that is `parallel_threads` (Piper): ONE engine in this process, shared by `jobs` threads.
    - jobs>1, any other engine (espeak): `jobs` spawned worker processes, each with its own engine.

    Nothing is loaded until a sentence is missing from the cache: a rebuild where everything is cached or
    unchanged neither loads the voice nor starts a thread or worker (voice id and sample rate come from its files).
    Clips come back as 16-bit PCM, whether synthesised or read from the cache (the same bytes either way).

    Keep one open for a whole build:
        with SynthesisPool(spec, jobs) as pool:
            for script in scripts:
                clips = pool.synthesize(script.utterances, on_clip=progress)
    """

    def __init__(self, spec: EngineSpec, jobs: int | None = None, cache: ClipCache | None = None) -> None:
        self.spec = spec
        self.jobs = max(1, jobs if jobs is not None else default_jobs())
        self.cache = cache
        self.stats = SynthesisStats()
        self._closed = False
        # Every build speaks through a pool: the allocator is set here, before the voice's or the assembly's
        # memory, in the process that assembles the audio, whether the engine runs on threads or in workers.
        _map_large_blocks()
        info = describe_engine(spec)  # a bad voice config fails here, in one line, before any synthesis
        self.sample_rate = info.sample_rate
        self.voice_id = info.voice_id
        self.engine_name = info.name
        self.uses_threads = self.jobs > 1 and engine_class(spec).parallel_threads
        # The cores the voice's threads (with jobs=1, the calling thread) share with the build's other work (never
        # fewer than --jobs: a --jobs above the cores is not held back). Worker processes cannot wait for a turn.
        self.turns = CoreTurns(max(self.jobs, default_jobs()))
        self.takes_turns = self.uses_threads or self.jobs == 1
        self._engine: Engine | None = None  # in this process: jobs=1, or shared by the threads
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None

    def _local_engine(self) -> Engine:
        """The engine in this process, opened on the first cache miss (in the calling thread: a voice that cannot
        load fails here, in one line, before any task is queued), or taken from open_ahead."""
        if self._engine is None:
            started = time.perf_counter()
            self._engine = _take_opened_ahead(self.spec) or open_engine(self.spec)
            self.stats.voice_load_seconds += time.perf_counter() - started
            self.stats.engines_opened += 1
        return self._engine

    def _submit_shared(self, work: _SharedWork) -> Future:
        """Queue one synthesis from `work` on the threads, opening the engine and starting them on the first miss."""
        engine = self._local_engine()
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="synthesis")
        return self._threads.submit(_synthesize_shared, engine, work, self.turns)

    def _submit(self, spoken: str) -> Future:
        """Queue one synthesis on the worker processes, starting them on the first cache miss."""
        if self._processes is None:
            # A model that onnxruntime cannot load fails here, in one line, before any worker starts (an
            # unoptimised session: a fraction of the cost of the workers' real ones).
            check_voice(self.spec)
            self.stats.engines_opened += 1
            # spawn, not fork: a forked onnxruntime/espeak state is not safe to reuse
            self._processes = ProcessPoolExecutor(max_workers=self.jobs, mp_context=get_context("spawn"),
                                                  initializer=_init_worker, initargs=(self.spec,))
        return self._processes.submit(_synthesize_in_worker, spoken)

    def __enter__(self) -> SynthesisPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def release(self) -> None:
        self._release()
        _give_back_freed_memory()

    def _release(self) -> None:
        """Free the loaded voice now (threads stop, workers exit); a later cache miss opens it again. The build
        calls it before assembling its last episode, the step that needs the most memory on a long article."""
        executors: list[Executor | None] = [self._threads, self._processes]
        self._threads = self._processes = None
        for executor in executors:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        self._engine = None  # after the threads stopped: none of them still uses it

    def close(self) -> None:
        self.release()
        self._closed = True

    def synthesize(self, utterances: Sequence[Utterance],
                   on_clip: Callable[[Clip], None] | None = None) -> list[Clip]:
        """One Clip (16-bit PCM) per utterance, in the same order. `on_clip` is called as each clip is ready,
        always in the calling thread (so are the cache writes)."""
        clips: list[Clip | None] = [None] * len(utterances)

        def keep(position: int, clip: Clip) -> None:
            clips[position] = clip
            if on_clip is not None:
                on_clip(clip)

        self._synthesize(utterances, keep)
        return [c for c in clips if c is not None]

    def synthesize_into(self, spool: ClipSpool, utterances: Sequence[Utterance],
                        on_clip: Callable[[Clip], None] | None = None) -> ClipSpool:
        """synthesize(), each clip written into `spool` as it is ready instead of kept in a list: a long
        article's audio is not held in memory."""

        def keep(_position: int, clip: Clip) -> None:
            spool.add(clip)
            if on_clip is not None:
                on_clip(clip)

        self._synthesize(utterances, keep)
        return spool

    def _synthesize(self, utterances: Sequence[Utterance], keep: Callable[[int, Clip], None]) -> None:
        """Every utterance's Clip, given to `keep(position, clip)` as it is ready, in the calling thread."""
        if self._closed:
            raise RuntimeError("SynthesisPool is closed")

        def done(position: int, samples: np.ndarray) -> None:
            keep(position, Clip(utterance=utterances[position].index, samples=samples, sample_rate=self.sample_rate))

        def synthesized(position: int, samples: np.ndarray, seconds: float) -> None:
            self.stats.synthesized += 1
            self.stats.engine_seconds += seconds
            if self.cache is not None:
                self.cache.put(clip_key(self.voice_id, {}, utterances[position].spoken), samples, self.sample_rate)
            done(position, samples)

        pending: dict[Future, int] = {}
        missing: list[tuple[int, str]] = []  # (position, text) to speak on the threads
        for position, utterance in enumerate(utterances):
            if not utterance.spoken or not utterance.spoken.strip():
                done(position, np.zeros(0, dtype=np.int16))
                continue
            if self.cache is not None:
                hit = self.cache.get(clip_key(self.voice_id, {}, utterance.spoken))
                if hit is not None and hit[1] == self.sample_rate:
                    self.stats.cached += 1
                    done(position, hit[0])
                    continue
            self.stats.longest_spoken = max(self.stats.longest_spoken, len(utterance.spoken))
            if self.jobs == 1:
                engine = self._local_engine()
                with self.turns.voice():
                    spoken = _timed_pcm16(engine, utterance.spoken)
                synthesized(position, *spoken)
            elif self.uses_threads:
                missing.append((position, utterance.spoken))
            else:
                pending[self._submit(utterance.spoken)] = position
        if missing:
            engine = self._local_engine()
            # The memory gate weighs each text by its phonemes; runs that stop growing need no gate, and their texts
            # are phonemised as they are spoken, not all before the first one.
            bounded = getattr(engine, "bounded_runs", False)
            work = _SharedWork([(position, text, 1 if bounded else engine.cost(text)) for position, text in missing],
                               self.jobs, bounded)
            pending.update((self._submit_shared(work), -1) for _ in missing)  # each result carries its position

        try:
            # Each clip is handed over as soon as it is done (into the spool, the cache and the progress bar), and
            # its future let go: a long article's clips are never all waiting in memory.
            for future in as_completed(list(pending)):
                position = pending.pop(future)
                if self.uses_threads:  # a thread raises our errors as they are (nothing is pickled)
                    position, samples, seconds = future.result()
                else:
                    samples, seconds, error = future.result()
                    if error is not None:
                        kind, message, hint = error
                        raise (InputError if kind == "InputError" else AudioEditionError)(message, hint)
                synthesized(position, samples, seconds)
        except BrokenProcessPool:
            raise AudioEditionError("a synthesis worker died (out of memory?)", "retry with --jobs 1") from None
        finally:
            for future in pending:
                future.cancel()


def synthesize_clips(utterances: Sequence[Utterance], spec: EngineSpec, jobs: int | None = None,
                     on_clip: Callable[[Clip], None] | None = None, cache: ClipCache | None = None) -> list[Clip]:
    """Synthesise every utterance, in order (jobs=1: in this process; else threads or processes, see
    SynthesisPool; default = cores)."""
    speakable = sum(1 for u in utterances if u.spoken and u.spoken.strip())
    jobs = max(1, min(jobs if jobs is not None else default_jobs(), max(speakable, 1)))
    with SynthesisPool(spec, jobs, cache) as pool:
        return pool.synthesize(utterances, on_clip=on_clip)

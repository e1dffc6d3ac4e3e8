"""One article's way from its script to the episode's files — the same steps for `build` on one machine and for a
Celery worker: hash the script, ask where it goes (and whether its published episode is already this one), speak
it (`speak_article`), assemble it (`assemble_article`). The assembly starts as the voice speaks: each clip goes to the
episode's stitcher as soon as the ones before it are in (`InScriptOrder`), and the MP3's first parts are encoded
then; `build` finishes an article's assembly in a thread of its own while the voice speaks the next one.

Where the files go is the caller's business (`Placement`): a local build writes into `episodes/<slug>/` after
reserving the slug in the store; a worker writes into a staging folder after claiming the slug in Redis.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from audio_edition.audio.assemble import EpisodeAssembly, compute_script_hash, warm_up_assembly
from audio_edition.config import Config
from audio_edition.fileio import file_digest
from audio_edition.models import Episode, Script, Utterance
from audio_edition.publish.artwork import MAX_FETCH_SECONDS, MAX_IMAGE_BYTES, write_episode_artwork
from audio_edition.sources.reader import fetch_bytes
from audio_edition.sources.url_guard import UrlGuard
from audio_edition.voice.clip_spool import ClipSpool
from audio_edition.voice.pool import SynthesisPool, default_jobs
from audio_edition.voice.spec import EngineSpec


def audio_settings(config: Config) -> dict:
    """The settings besides the voice that change the MP3's sound: part of the script hash."""
    audio = config.audio
    return {
        "bitrate_kbps": audio.bitrate_kbps,
        "target_lufs": audio.target_lufs,
        "true_peak_db": audio.true_peak_db,
        "jingle_intro": file_digest(config.resolve(audio.jingle_intro)),
        "jingle_outro": file_digest(config.resolve(audio.jingle_outro)),
        "music_bed": file_digest(config.resolve(audio.music_bed)),
        "bed": [audio.bed_level_db, audio.bed_duck_db, audio.bed_ramp_ms, audio.bed_fade_s, audio.bed_lead_s],
        # jingles levelled against the voice (an episode without jingles keeps the hash it had before this key)
        **({"jingle_level_db": audio.jingle_level_db} if audio.jingle_intro or audio.jingle_outro else {}),
    }


def image_fetcher(config: Config, guard: UrlGuard | None = None) -> Callable[[str], bytes]:
    """How an article's image is fetched: the fetcher, guard and pinning every article resource goes through, with
    a smaller size cap and a shorter deadline."""
    limits = dataclasses.replace(config.limits, max_input_bytes=MAX_IMAGE_BYTES,
                                 url_timeout_s=min(config.limits.url_timeout_s, MAX_FETCH_SECONDS),
                                 fetch_deadline_s=min(config.limits.fetch_deadline_s, MAX_FETCH_SECONDS))

    def fetch(url: str) -> bytes:
        return fetch_bytes(url, limits, guard, accept="image/jpeg,image/png,image/webp,image/*;q=0.8")[0]

    return fetch


@dataclass(frozen=True)
class Reader:
    """The voice that reads the articles of one language: what to open, and its synthesis pool."""

    spec: EngineSpec
    pool: SynthesisPool

    def script_hash(self, script: Script, config: Config) -> str:
        """Same hash, same audio (the pool's voice id needs no model load)."""
        settings = {"voice": self.pool.voice_id, "audio": audio_settings(config)}
        return compute_script_hash(script, self.pool.engine_name, self.spec.voice, settings)


@dataclass(frozen=True)
class Placement:
    """Where an article's episode goes, as the caller decided once it knew the script hash."""

    slug: str
    directory: Path  # where the episode's files are written: its published folder, or a staging folder
    unchanged: bool = False  # its published episode has this script hash and is intact: nothing to build


class ArticleProgress(Protocol):
    """What a display may show of one article (build's progress bar; nothing in a worker)."""

    def speaking(self, slug: str, utterances: int) -> None: ...

    def spoke(self) -> None: ...

    def assembling(self) -> None: ...


class Quiet:
    """No display: a worker, or the library called without a terminal."""

    def speaking(self, slug: str, utterances: int) -> None:
        pass

    def spoke(self) -> None:
        pass

    def assembling(self) -> None:
        pass


@dataclass(frozen=True)
class ArticleResult:
    slug: str
    script_hash: str
    episode: Episode | None  # None: unchanged, not rebuilt
    synthesis_seconds: float = 0.0


class InScriptOrder:
    """Hands an article's clips to its EpisodeAssembly in script order, in a thread of its own, as the voice puts
    them in the spool (`arrived`): the voice's threads never wait for the assembly. An error of the assembly is
    kept and raised by `finish`."""

    def __init__(self, clips: ClipSpool, utterances: tuple[Utterance, ...], assembly: EpisodeAssembly) -> None:
        self.clips, self.utterances, self.assembly = clips, utterances, assembly
        self.error: BaseException | None = None
        self._stopped = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._feed, name="assemble as spoken", daemon=True)
        self._thread.start()

    def arrived(self) -> None:
        with self._changed:
            self._changed.notify()

    def _feed(self) -> None:
        try:
            for utterance in self.utterances:
                with self._changed:
                    while utterance.index not in self.clips and not self._stopped:
                        self._changed.wait()
                    if self._stopped:
                        return
                self.assembly.add(self.clips[utterance.index])
        except BaseException as exc:  # raised by finish(), in the thread that finishes the episode
            self.error = exc

    def stop(self) -> None:
        """Speaking failed: the thread stops without waiting for clips that will not come."""
        with self._changed:
            self._stopped = True
            self._changed.notify()
        self._thread.join()

    def finish(self) -> None:
        """Wait until every clip is in the assembly."""
        self._thread.join()
        if self.error is not None:
            raise self.error


@dataclass(frozen=True)
class SpokenArticle:
    """An article whose sentences are all spoken: what its assembly needs."""

    script: Script
    placement: Placement
    script_hash: str
    clips: ClipSpool  # on disk: a long article's audio is not held in memory while it waits for assembly
    synthesis_seconds: float
    assembly: EpisodeAssembly  # begun as the clips came
    fed: InScriptOrder

    def abandon(self) -> None:
        """It will not be assembled (the build stops): its threads stop and its working files go."""
        self.fed.stop()
        self.assembly.close()
        self.clips.close()


def speak_article(script: Script, reader: Reader, config: Config, place: Callable[[str], Placement],
                  progress: ArticleProgress, *, release_voice: bool = False) -> SpokenArticle | ArticleResult:
    """Script → hash → unchanged (an ArticleResult without episode)? → clips. PLACE gets the script hash and says
    where the episode goes; RELEASE_VOICE frees the voice's memory once it has spoken (nothing more for it)."""
    script_hash = reader.script_hash(script, config)
    placement = place(script_hash)
    if placement.unchanged:
        return ArticleResult(placement.slug, script_hash, None)
    progress.speaking(placement.slug, len(script.utterances))
    started = time.monotonic()
    warm_up_assembly(config)  # begun while the articles were read, by run_build; a worker's one article: here
    spool_dir = placement.directory.parent  # on the output's disk (placement.directory is made by the assembly)
    spool_dir.mkdir(parents=True, exist_ok=True)
    clips = ClipSpool(spool_dir)
    try:
        # The first MP3 parts are encoded as the voice speaks, each on a core the voice's threads give up for it
        # (or one they leave free): a third run beside two busy threads slows the voice more than it saves
        # (docs/speed.md). Worker processes cannot give a core up: beside them, only on a free core.
        pool = reader.pool
        assembly = EpisodeAssembly(script, config, placement.directory, placement.slug, reader.spec.voice,
                                   pool.engine_name, pool.sample_rate, script_hash=script_hash,
                                   encode_now=pool.takes_turns or pool.jobs < default_jobs(),
                                   turn=pool.turns.other if pool.takes_turns else None)
    except BaseException:
        clips.close()
        raise
    fed = InScriptOrder(clips, script.utterances, assembly)

    def spoke(_clip) -> None:
        fed.arrived()
        progress.spoke()

    try:
        reader.pool.synthesize_into(clips, script.utterances, on_clip=spoke)
    except BaseException:
        SpokenArticle(script, placement, script_hash, clips, 0.0, assembly, fed).abandon()
        raise
    synthesis_seconds = time.monotonic() - started
    if release_voice:
        reader.pool.release()
    return SpokenArticle(script, placement, script_hash, clips, synthesis_seconds, assembly, fed)


def assemble_article(spoken: SpokenArticle, reader: Reader, config: Config, progress: ArticleProgress,
                     url_guard: UrlGuard | None = None) -> ArticleResult:
    """Clips → episode files, and the episode's artwork from the article's image (URL_GUARD checks its address
    before it is fetched). Safe to run in another thread while the pool speaks the next article."""
    progress.assembling()
    placement = spoken.placement
    with spoken.clips, spoken.assembly:
        spoken.fed.finish()
        episode = spoken.assembly.finish()
    write_episode_artwork(placement.directory, spoken.script.article, config, image_fetcher(config, url_guard))
    return ArticleResult(placement.slug, spoken.script_hash, episode, spoken.synthesis_seconds)


def build_article(script: Script, reader: Reader, config: Config, place: Callable[[str], Placement],
                  progress: ArticleProgress | None = None, *, release_voice: bool = False,
                  url_guard: UrlGuard | None = None) -> ArticleResult:
    """speak_article, then assemble_article: one article from its script to its episode's files."""
    progress = progress or Quiet()
    spoken = speak_article(script, reader, config, place, progress, release_voice=release_voice)
    if isinstance(spoken, ArticleResult):
        return spoken
    return assemble_article(spoken, reader, config, progress, url_guard)

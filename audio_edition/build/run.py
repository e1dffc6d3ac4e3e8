"""`audio-edition build`: every source -> article -> script -> clips -> episode, then the feed, once.

One engine for the whole run (resolved once, announced; the espeak fallback loudly), one synthesis pool per
language shared by every article, and an article whose script hash equals the published one is not spoken again.
Each article goes the way `build.article` says (the same as in a Celery worker); what is shown of it is the
display's business (`build.display`): a terminal for the CLI, nothing for the library.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

from audio_edition.audio.assemble import check_audio_config, warm_up_assembly
from audio_edition.audio.ffmpeg import check_ffmpeg
from audio_edition.build.article import (
    ArticleResult,
    Placement,
    Reader,
    SpokenArticle,
    assemble_article,
    audio_settings,
    speak_article,
)
from audio_edition.build.display import BuildDisplay, Silent
from audio_edition.config import Config
from audio_edition.errors import AudioEditionError, InputError, RefusedArticle
from audio_edition.extract import extract_article
from audio_edition.extract.guards import check_article, guard_policy, language_name, preload_detector, release_detector
from audio_edition.fileio import OutputLock, check_free_space, remove_stale_temp_files
from audio_edition.models import Episode, Script
from audio_edition.publish.publisher import check_config, plan_episode, publish
from audio_edition.sources.index import SourceIndex, open_store, signature
from audio_edition.sources.reader import expand_sources, read_source
from audio_edition.sources.site_feed import articles_from_feed, is_feed
from audio_edition.speech.glue import release_word_list
from audio_edition.speech.lexicon import load_lexicon
from audio_edition.speech.script import article_language, build_script, check_script_config
from audio_edition.voice.clip_cache import open_clip_cache
from audio_edition.voice.engines import describe_engine
from audio_edition.voice.piper import check_voice
from audio_edition.voice.pool import SynthesisPool, SynthesisStats, drop_opened_ahead, open_ahead
from audio_edition.voice.spec import resolve_engine, resolve_engine_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildSummary:
    built: int
    unchanged: int
    audio_seconds: float  # audio of the episodes built in this run
    wall_seconds: float
    synthesis_seconds: float = 0.0  # wall time of the synthesis phase (all articles)
    engine_seconds: float = 0.0  # time inside the engine, summed over workers
    utterances_synthesized: int = 0
    utterances_cached: int = 0

    @property
    def real_time_factor(self) -> float | None:
        """Wall time per second of audio produced (< 1: faster than real time)."""
        return self.wall_seconds / self.audio_seconds if self.audio_seconds > 0 else None


# Working files per second of audio: a float32 sample and a float16 limiter gain per sample of the episode (per Hz
# of its rate), and the voice's 16-bit clips (at up to 48 kHz)
WORKING_BYTES_PER_RATE = 4 + 2
CLIP_BYTES_PER_SECOND = 2 * 48000


def estimated_output_bytes(scripts: list[Script], config: Config) -> int:
    """A generous guess of what a build writes: MP3s (speech at ~12 characters a second), transcripts, pages and
    episode.json (~40 bytes per character), plus 1 MB for the feed, cover and player; and the working files of
    the two longest articles, which may be spoken and assembled at the same time."""
    lengths = sorted((sum(len(u.spoken) for u in script.utterances) for script in scripts), reverse=True)
    chars = sum(lengths)
    working = sum(lengths[:2]) / 12 * (WORKING_BYTES_PER_RATE * config.audio.sample_rate + CLIP_BYTES_PER_SECOND)
    return int(chars / 12 * config.audio.bitrate_kbps * 125 + 40 * chars + 1_000_000 + working)


@dataclass(frozen=True)
class Skipped:
    """A source (or a feed item) that was not built: refused by the content guards, or unreadable."""

    what: str  # the file, URL or feed item
    message: str  # one line, naming it


@dataclass(frozen=True)
class BuildOutcome:
    episodes: list[Episode]  # built in this run (unchanged articles are not rebuilt and not listed)
    skipped: list[Skipped]
    summary: BuildSummary
    stats: SynthesisStats  # sentences spoken and taken from the clip cache, over every voice
    feed: Path
    engine: str  # "piper (voice)" of the French articles: named in the summary when nothing was built


def _script_of(article, config: Config, lexicon, policy) -> Script:
    return build_script(check_article(article, policy), config, lexicon)


def _named(location: str, exc: InputError) -> InputError:
    """The error with the source's name in its one line."""
    if location in exc.message:
        return exc
    if isinstance(exc, RefusedArticle):
        return RefusedArticle(f"{location}: {exc.message}", exc.reason, exc.hint)
    return InputError(f"{location}: {exc.message}", exc.hint)


def _prepare(location: str, config: Config, lexicon, out_dir: Path, policy,
             skipped: list[Skipped] | None = None, up_to_date: list[str] | None = None) -> list[Script]:
    """The scripts of one source: one article, or every not-yet-published item of a site's RSS/Atom feed. A feed
    item that is refused or unreadable goes to SKIPPED (when given) and the others go on; the links of its items
    already published go to UP_TO_DATE."""
    try:
        doc = read_source(location, config.limits)
        if not is_feed(doc):
            return [_script_of(extract_article(doc, config.limits.max_blocks), config, lexicon, policy)]
        failures: list[tuple[str, InputError]] = []
        articles = articles_from_feed(doc, config.limits, out_dir=out_dir,
                                      failures=failures if skipped is not None else None,
                                      already_published=up_to_date)
        scripts = []
        for article in articles:
            try:
                scripts.append(_script_of(article, config, lexicon, policy))
            except InputError as exc:
                if skipped is None:
                    raise
                failures.append((article.url or article.title, exc))
        if skipped is not None:
            skipped.extend(Skipped(what, _named(what, exc).one_line()) for what, exc in failures)
        return scripts
    except InputError as exc:  # say which article, in the same one line
        raise _named(location, exc) from None


def run_build(sources: list[str], out_dir: Path, config: Config, jobs: int | None = None,
              display: BuildDisplay | None = None, wait_for_lock: bool = True,
              stats_file: Path | None = None) -> BuildOutcome:
    """Build an episode for every article in `sources` into `out_dir`, then publish the feed and pages.

    Returns the episodes built in this run (unchanged articles are not rebuilt and not returned) and the sources
    skipped: with several articles, one that is refused by the content guards or unreadable is named (as a
    warning) and the others go on; alone, or when no article is left, it is an InputError (nothing written).
    """
    try:
        return _run_build(sources, out_dir, config, jobs, display, wait_for_lock, stats_file)
    finally:
        drop_opened_ahead()  # a voice opened ahead that no article needed


def _run_build(sources: list[str], out_dir: Path, config: Config, jobs: int | None,
               display: BuildDisplay | None, wait_for_lock: bool, stats_file: Path | None) -> BuildOutcome:
    shown = display or Silent()
    started = time.monotonic()
    out_dir = Path(out_dir)

    # Everything that can be refused is refused now, before minutes of synthesis.
    check_audio_config(config)
    check_config(config)
    check_script_config(config)
    policy = guard_policy(config)
    locations = expand_sources(list(sources))
    lexicon = load_lexicon(config.resolve(config.script.lexicon))
    spec = resolve_engine(config.voice)
    engine = describe_engine(spec)  # the voice id (content hash): no model load
    settings = {"voice": engine.voice_id, "audio": audio_settings(config)}
    # An article file whose bytes, settings and code are those of its published episode is not read again
    # (sources.index); everything else is read and scripted first: a bad article stops the run before synthesis.
    index = SourceIndex(out_dir, signature(config, settings, engine.name))
    store = open_store(out_dir)
    try:
        skipped_unchanged = [location for location in locations if index.unchanged(location, store)]
    finally:
        if store is not None:
            store.close()
    to_read = [location for location in locations if location not in skipped_unchanged]
    if to_read:
        preload_detector()  # the language model loads while the first source is read
        open_ahead(spec, jobs)  # and the voice, on the other core (dropped at the end if nothing was spoken)
        warm_up_assembly(config)  # and what the episodes' assembly needs
    batch = len(locations) > 1
    skipped: list[Skipped] = []
    feed_items_up_to_date: list[str] = []
    prepared: list[tuple[str, list[Script]]] = []
    for location in to_read:
        try:
            prepared.append((location, _prepare(location, config, lexicon, out_dir, policy, skipped,
                                                feed_items_up_to_date)))
        except InputError as exc:
            if not batch:
                raise
            skipped.append(Skipped(location, exc.one_line()))
    release_detector()  # its memory, and the word list's, is better spent on synthesis
    release_word_list()
    for item in skipped:
        shown.note(f"audio-edition: skipped {item.message}")
    scripts = [script for _, found in prepared for script in found]
    if skipped and not scripts and not skipped_unchanged and not feed_items_up_to_date:
        raise InputError(f"nothing to build: {len(skipped)} article(s) refused or unreadable (named above)")
    # Each language is read by a voice of its own: one not configured is refused now, naming what to set.
    specs = {lang: resolve_engine_for(config.voice, lang, spec)
             for lang in sorted({article_language(s.article) for s in scripts} - {"fr"})}
    specs["fr"] = spec
    # A missing ffmpeg or a full disk is found now too, before anything is written to the output folder.
    check_ffmpeg()
    check_free_space(out_dir, estimated_output_bytes(scripts, config))
    for other in specs.values():
        check_voice(other)  # a corrupt or mismatched voice is refused before the output folder is touched
    if spec.fallback_reason:
        shown.warning(spec.fallback_reason)

    built: list[Episode] = []
    unchanged = len(skipped_unchanged)
    published_as: dict[int, tuple[str, str]] = {}  # id(script) -> (slug, script hash), for the source index
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out_dir}: {exc.strerror}") from None
    cache = open_clip_cache(config)
    synthesis_seconds = 0.0
    last_spoken = time.monotonic()  # when the last article's last sentence was spoken
    last_of = {article_language(script.article): script for script in scripts}  # each voice goes after it
    with OutputLock(out_dir, wait=wait_for_lock), ExitStack() as pools_open:
        # One synthesis pool per language (a pool opens its voice only when it first speaks).
        readers = {lang: Reader(other, pools_open.enter_context(SynthesisPool(other, jobs, cache)))
                   for lang, other in specs.items()}
        pool = readers["fr"].pool
        if removed := remove_stale_temp_files(out_dir):  # left by a build that was killed
            log.info("removed %d temp file(s) left by an interrupted build", removed)
        shown.note(f"Engine: {pool.engine_name}, voice {spec.voice} ({pool.sample_rate} Hz), {pool.jobs} worker(s)")
        for lang, reader in readers.items():
            if lang != "fr":
                shown.note(f"Engine for {language_name(lang)} articles: {reader.pool.engine_name}, voice "
                           f"{reader.spec.voice} ({reader.pool.sample_rate} Hz)")

        def into_its_folder(script: Script) -> Callable[[str], Placement]:
            def place(script_hash: str) -> Placement:
                plan = plan_episode(out_dir, script.article)  # the slug is reserved in the store
                return Placement(plan.slug, out_dir / "episodes" / plan.slug,
                                 unchanged=plan.published_script_hash == script_hash and plan.published_intact)
            return place

        def done(script: Script, result: ArticleResult) -> None:
            nonlocal unchanged, synthesis_seconds
            published_as[id(script)] = (result.slug, result.script_hash)
            synthesis_seconds += result.synthesis_seconds
            if result.episode is None:
                log.info("%s: unchanged, not rebuilt", result.slug)
                unchanged += 1
            else:
                built.append(result.episode)
            shown.episode_done()

        try:
            # Article k is assembled in a thread of its own while the voice speaks article k + 1 (one assembly at
            # a time: one episode's samples in memory besides the clips being spoken).
            with shown.episodes(len(scripts)), ThreadPoolExecutor(1, thread_name_prefix="assemble") as assembler:
                assembling: tuple[Script, Future[ArticleResult]] | None = None
                try:
                    for script in scripts:
                        lang = article_language(script.article)
                        progress = shown.article()
                        spoken = speak_article(script, readers[lang], config, into_its_folder(script), progress,
                                               release_voice=script is last_of[lang])
                        last_spoken = time.monotonic()
                        if assembling is not None:  # cleared first: a failure here is not waited for again below
                            (previous, future), assembling = assembling, None
                            try:
                                done(previous, future.result())
                            except BaseException:
                                if isinstance(spoken, SpokenArticle):  # never to be assembled
                                    spoken.abandon()
                                raise
                        if isinstance(spoken, ArticleResult):
                            done(script, spoken)
                        else:
                            assembling = (script, assembler.submit(assemble_article, spoken, readers[lang], config,
                                                                   progress))
                    drop_opened_ahead()  # all is spoken: a voice opened ahead that no article needed goes now
                finally:
                    if assembling is not None:  # the last one, or the one under way when speaking failed
                        last = _finish_assembly(assembling[1])
                        if last is not None:
                            done(assembling[0], last)
        except AudioEditionError:
            if built:  # what was finished before the failure is not lost
                log.warning("publishing the %d episode(s) built before the error", len(built))
                publish(out_dir, config, built)
            raise
        feed = publish(out_dir, config, built)
        for location, found in prepared:
            if len(found) == 1 and id(found[0]) in published_as:
                index.record(location, *published_as[id(found[0])])
        index.save()

    if cache is not None:
        cache.prune()
    stats = _merged_stats([reader.pool.stats for reader in readers.values()])
    summary = BuildSummary(len(built), unchanged, sum(e.duration for e in built), time.monotonic() - started,
                           synthesis_seconds, stats.engine_seconds, stats.synthesized, stats.cached)
    if stats_file is not None:  # for bench/: machine-readable timings of this run
        extra = {"jobs": pool.jobs, "engines_opened": stats.engines_opened, "longest_spoken_chars": stats.longest_spoken,
                 "voice_load_seconds": stats.voice_load_seconds,
                 "after_last_utterance_seconds": time.monotonic() - last_spoken}
        stats_file.write_text(json.dumps(asdict(summary) | extra, indent=2), encoding="utf-8")
    outcome = BuildOutcome(built, skipped, summary, stats, feed, f"{pool.engine_name} ({spec.voice})")
    shown.finished(outcome)
    log.debug("build summary %s", asdict(summary))
    return outcome


def _finish_assembly(future: Future[ArticleResult]) -> ArticleResult | None:
    """Wait for an assembly. When something else already failed (an exception is being handled), an assembly
    that fails too is logged (None), not raised over the first error."""
    failing = sys.exc_info()[1] is not None
    try:
        return future.result()
    except AudioEditionError as exc:
        if not failing:
            raise
        log.warning("the episode being assembled failed too: %s", exc.one_line())
        return None


def _merged_stats(all_stats: list[SynthesisStats]) -> SynthesisStats:
    merged = SynthesisStats()
    for stats in all_stats:
        merged.synthesized += stats.synthesized
        merged.cached += stats.cached
        merged.engine_seconds += stats.engine_seconds
        merged.engines_opened += stats.engines_opened
        merged.longest_spoken = max(merged.longest_spoken, stats.longest_spoken)
        merged.voice_load_seconds += stats.voice_load_seconds
    return merged

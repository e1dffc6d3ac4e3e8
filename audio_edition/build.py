"""`audio-edition build`: every source -> article -> script -> clips -> episode, then the feed, once.

One engine for the whole run (resolved once, announced on stderr; the espeak fallback loudly), one synthesis pool
shared by every article, and an article whose script hash equals the published one is not spoken again.
Progress (rich) goes to stderr; the summary and where the files are go to stdout.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .config import Config
from .errors import AudioEditionError, InputError, RefusedArticle
from .fileio import file_digest
from .models import Episode, Script

if TYPE_CHECKING:
    from .speak import SynthesisStats

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


def audio_settings(config: Config) -> dict:
    """The settings besides the voice that change the MP3's sound: part of the script hash."""
    audio = config.audio
    return {
        "bitrate_kbps": audio.bitrate_kbps,
        "target_lufs": audio.target_lufs,
        "true_peak_db": audio.true_peak_db,
        "jingle_intro": file_digest(config.resolve(audio.jingle_intro)),
        "jingle_outro": file_digest(config.resolve(audio.jingle_outro)),
    }


def estimated_output_bytes(scripts: list[Script], config: Config) -> int:
    """A generous guess of what a build writes: MP3s (speech at ~12 characters a second), transcripts, pages and
    episode.json (~40 bytes per character), plus 1 MB for the feed, cover and player."""
    chars = sum(len(u.spoken) for script in scripts for u in script.utterances)
    return int(chars / 12 * config.audio.bitrate_kbps * 125 + 40 * chars + 1_000_000)


def _published_is_intact(episode_dir: Path) -> bool:
    """The episode on disk is whole: its episode.json and the MP3 it names are there."""
    try:
        data = json.loads((episode_dir / "episode.json").read_text(encoding="utf-8"))
        return (episode_dir / data["audio_file"]).is_file()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s" if hours else f"{minutes} min {secs:02d} s"


@dataclass(frozen=True)
class Skipped:
    """A source (or a feed item) that was not built: refused by the content guards, or unreadable."""

    what: str  # the file, URL or feed item
    message: str  # one line, naming it


@dataclass(frozen=True)
class BuildOutcome:
    episodes: list[Episode]  # built in this run (unchanged articles are not rebuilt and not listed)
    skipped: list[Skipped]


def _script_of(article, config: Config, lexicon, policy) -> Script:
    from .extract.guards import check_article
    from .script import build_script

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
    from .extract import extract_article
    from .site_feed import articles_from_feed, is_feed
    from .source import read_source

    try:
        doc = read_source(location, config.limits)
        if not is_feed(doc):
            return [_script_of(extract_article(doc), config, lexicon, policy)]
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
              console: Console | None = None, err_console: Console | None = None, wait_for_lock: bool = True,
              stats_file: Path | None = None) -> BuildOutcome:
    """Build an episode for every article in `sources` into `out_dir`, then publish the feed and pages.

    Returns the episodes built in this run (unchanged articles are not rebuilt and not returned) and the sources
    skipped: with several articles, one that is refused by the content guards or unreadable is named on stderr and
    the others go on; alone, or when no article is left, it is an InputError (nothing written).
    """
    from . import loudness
    from .assemble import assemble_episode, check_audio_config, compute_script_hash
    from .extract.guards import guard_policy, language_name, preload_detector, release_detector
    from .fileio import OutputLock, remove_stale_temp_files
    from .lexicon import load_lexicon
    from .publish import check_config, plan_episode, publish
    from .script import article_language, check_script_config
    from .source import expand_sources
    from .source_index import SourceIndex, open_store, signature
    from .speak import SynthesisPool, check_voice, describe_engine, resolve_engine, resolve_engine_for

    out = console or Console()
    err = err_console or Console(stderr=True)
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
    # (source_index.py); everything else is read and scripted first: a bad article stops the run before synthesis.
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
    release_detector()  # its memory is better spent on synthesis
    for item in skipped:
        err.print(f"audio-edition: skipped {item.message}", highlight=False, markup=False, soft_wrap=True)
    scripts = [script for _, found in prepared for script in found]
    if skipped and not scripts and not skipped_unchanged and not feed_items_up_to_date:
        raise InputError(f"nothing to build: {len(skipped)} article(s) refused or unreadable (named above)")
    # Each language is read by a voice of its own: one not configured is refused now, naming what to set.
    specs = {lang: resolve_engine_for(config.voice, lang, spec)
             for lang in sorted({article_language(s.article) for s in scripts} - {"fr"})}
    specs["fr"] = spec
    settings_of = {lang: settings if lang == "fr" else {"voice": describe_engine(other).voice_id,
                                                         "audio": settings["audio"]}
                   for lang, other in specs.items()}
    # A missing ffmpeg or a full disk is found now too, before anything is written to the output folder.
    from .fileio import check_free_space
    from .ffmpeg import check_ffmpeg

    check_ffmpeg()
    check_free_space(out_dir, estimated_output_bytes(scripts, config))

    for other in specs.values():
        check_voice(other)  # a corrupt or mismatched voice is refused before the output folder is touched
    if spec.fallback_reason:
        err.print(f"[bold red]WARNING:[/] {escape(spec.fallback_reason)}", markup=True, highlight=False,
                  soft_wrap=True)

    built: list[Episode] = []
    unchanged = len(skipped_unchanged)
    published_as: dict[int, tuple[str, str]] = {}  # id(script) -> (slug, script hash), for the source index
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out_dir}: {exc.strerror}") from None
    cache = config.clip_cache()
    synthesis_seconds = 0.0
    last_of = {article_language(script.article): script for script in scripts}  # each voice goes after it
    with OutputLock(out_dir, wait=wait_for_lock), ExitStack() as pools_open:
        # One synthesis pool per language (a pool opens its voice only when it first speaks).
        pools = {lang: pools_open.enter_context(SynthesisPool(other, jobs, cache)) for lang, other in specs.items()}
        pool = pools["fr"]
        if removed := remove_stale_temp_files(out_dir):  # left by a build that was killed
            log.info("removed %d temp file(s) left by an interrupted build", removed)
        err.print(f"Engine: {pool.engine_name}, voice {spec.voice} ({pool.sample_rate} Hz), "
                  f"{pool.jobs} worker(s)", highlight=False, markup=False)
        for lang, other in specs.items():
            if lang != "fr":
                err.print(f"Engine for {language_name(lang)} articles: {pools[lang].engine_name}, voice {other.voice} "
                          f"({pools[lang].sample_rate} Hz)", highlight=False, markup=False)
        try:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err) as progress:
                overall = progress.add_task("Episodes", total=len(scripts))
                for script in scripts:
                    lang = article_language(script.article)
                    voice_pool, voice_spec = pools[lang], specs[lang]
                    script_hash = compute_script_hash(script, voice_pool.engine_name, voice_spec.voice,
                                                      settings_of[lang])
                    plan = plan_episode(out_dir, script.article)
                    episode_dir = out_dir / "episodes" / plan.slug
                    published_as[id(script)] = (plan.slug, script_hash)
                    if plan.published_script_hash == script_hash and _published_is_intact(episode_dir):
                        log.info("%s: unchanged, not rebuilt", plan.slug)
                        unchanged += 1
                        progress.advance(overall)
                        continue
                    label = plan.slug if len(plan.slug) <= 40 else plan.slug[:39] + "…"
                    task = progress.add_task(f"  {label}", total=len(script.utterances))
                    phase_started = time.monotonic()
                    loudness.warm_up()  # assembly's scipy loads while the voice speaks
                    clips = voice_pool.synthesize(script.utterances,
                                                  on_clip=lambda _clip, t=task: progress.advance(t))
                    synthesis_seconds += time.monotonic() - phase_started
                    if script is last_of[lang]:
                        voice_pool.release()  # nothing more for it to speak: its memory goes before assembly
                    progress.update(task, description=f"  {label} (assembling)")
                    episode = assemble_episode(script, clips, config, episode_dir, plan.slug, voice_spec.voice,
                                               voice_pool.engine_name, script_hash=script_hash)
                    progress.update(task, description=f"  {label}")
                    built.append(episode)
                    progress.advance(overall)
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
    stats = _merged_stats([p.stats for p in pools.values()])
    summary = BuildSummary(len(built), unchanged, sum(e.duration for e in built), time.monotonic() - started,
                           synthesis_seconds, stats.engine_seconds, stats.synthesized, stats.cached)
    if stats_file is not None:  # for bench/: machine-readable timings of this run
        extra = {"jobs": pool.jobs, "engines_opened": stats.engines_opened, "longest_spoken_chars": stats.longest_spoken,
                 "voice_load_seconds": stats.voice_load_seconds}
        stats_file.write_text(json.dumps(asdict(summary) | extra, indent=2), encoding="utf-8")
    for episode in built:
        out.print(f"{Path(episode.directory) / episode.audio_file}", highlight=False, markup=False, soft_wrap=True)
    rtf = summary.real_time_factor
    out.print(
        f"{summary.built} episode(s) built, {summary.unchanged} unchanged; "
        f"audio {_format_duration(summary.audio_seconds)}; wall time {summary.wall_seconds:.1f} s"
        + (f"; real-time factor {rtf:.2f}" if rtf is not None else "")
        + (f"; {stats.synthesized} sentence(s) spoken, {stats.cached} from cache"
           if stats.synthesized or stats.cached else "")
        + "; engine " + ", ".join(sorted({f"{e.engine} ({e.voice})" for e in built})
                                  or [f"{pool.engine_name} ({spec.voice})"])
        + (f"; {len(skipped)} article(s) skipped (refused or unreadable)" if skipped else ""),
        highlight=False, markup=False, soft_wrap=True)
    out.print(f"feed: {feed}", highlight=False, markup=False, soft_wrap=True)
    log.debug("build summary %s", asdict(summary))
    return BuildOutcome(built, skipped)


def _merged_stats(all_stats: list[SynthesisStats]) -> SynthesisStats:
    from .speak import SynthesisStats

    merged = SynthesisStats()
    for stats in all_stats:
        merged.synthesized += stats.synthesized
        merged.cached += stats.cached
        merged.engine_seconds += stats.engine_seconds
        merged.engines_opened += stats.engines_opened
        merged.longest_spoken = max(merged.longest_spoken, stats.longest_spoken)
        merged.voice_load_seconds += stats.voice_load_seconds
    return merged

"""`audio-edition build`: every source -> article -> script -> clips -> episode, then the feed, once.

One engine for the whole run (resolved once, announced on stderr; the espeak fallback loudly), one synthesis pool
shared by every article, and an article whose script hash equals the published one is not spoken again.
Progress (rich) goes to stderr; the summary and where the files are go to stdout.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .config import Config
from .errors import AudioEditionError, InputError
from .fileio import file_digest
from .models import Episode, Script

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


def _prepare(location: str, config: Config, lexicon, out_dir: Path) -> list[Script]:
    """The scripts of one source: one article, or every not-yet-published item of a site's RSS/Atom feed."""
    from .extract import extract_article
    from .script import build_script
    from .site_feed import articles_from_feed, is_feed
    from .source import read_source

    try:
        doc = read_source(location, config.limits)
        if is_feed(doc):
            articles = articles_from_feed(doc, config.limits, out_dir=out_dir)
        else:
            articles = [extract_article(doc)]
        return [build_script(article, config, lexicon) for article in articles]
    except InputError as exc:  # say which article, in the same one line
        if location in exc.message:
            raise
        raise InputError(f"{location}: {exc.message}", exc.hint) from None


def run_build(sources: list[str], out_dir: Path, config: Config, jobs: int | None = None,
              console: Console | None = None, err_console: Console | None = None, wait_for_lock: bool = True,
              stats_file: Path | None = None) -> list[Episode]:
    """Build an episode for every article in `sources` into `out_dir`, then publish the feed and pages.

    Returns the episodes built in this run (unchanged articles are not rebuilt and not returned).
    """
    from . import loudness
    from .assemble import assemble_episode, check_audio_config, compute_script_hash
    from .fileio import OutputLock, remove_stale_temp_files
    from .lexicon import load_lexicon
    from .publish import check_config, plan_episode, publish
    from .source import expand_sources
    from .source_index import SourceIndex, open_store, signature
    from .speak import SynthesisPool, check_voice, describe_engine, resolve_engine

    out = console or Console()
    err = err_console or Console(stderr=True)
    started = time.monotonic()
    out_dir = Path(out_dir)

    # Everything that can be refused is refused now, before minutes of synthesis.
    check_audio_config(config)
    check_config(config)
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
        skipped = [location for location in locations if index.unchanged(location, store)]
    finally:
        if store is not None:
            store.close()
    prepared = [(location, _prepare(location, config, lexicon, out_dir))
                for location in locations if location not in skipped]
    scripts = [script for _, found in prepared for script in found]
    # A missing ffmpeg or a full disk is found now too, before anything is written to the output folder.
    from .fileio import check_free_space
    from .ffmpeg import check_ffmpeg

    check_ffmpeg()
    check_free_space(out_dir, estimated_output_bytes(scripts, config))

    check_voice(spec)  # a corrupt or mismatched voice is refused before the output folder is touched
    if spec.fallback_reason:
        err.print(f"[bold red]WARNING:[/] {escape(spec.fallback_reason)}", markup=True, highlight=False,
                  soft_wrap=True)

    built: list[Episode] = []
    unchanged = len(skipped)
    published_as: dict[int, tuple[str, str]] = {}  # id(script) -> (slug, script hash), for the source index
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out_dir}: {exc.strerror}") from None
    cache = config.clip_cache()
    synthesis_seconds = 0.0
    with OutputLock(out_dir, wait=wait_for_lock), SynthesisPool(spec, jobs, cache) as pool:
        if removed := remove_stale_temp_files(out_dir):  # left by a build that was killed
            log.info("removed %d temp file(s) left by an interrupted build", removed)
        err.print(f"Engine: {pool.engine_name}, voice {spec.voice} ({pool.sample_rate} Hz), "
                  f"{pool.jobs} worker(s)", highlight=False, markup=False)
        try:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err) as progress:
                overall = progress.add_task("Episodes", total=len(scripts))
                for script in scripts:
                    script_hash = compute_script_hash(script, pool.engine_name, spec.voice, settings)
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
                    clips = pool.synthesize(script.utterances, on_clip=lambda _clip, t=task: progress.advance(t))
                    synthesis_seconds += time.monotonic() - phase_started
                    if script is scripts[-1]:
                        pool.release()  # nothing more to speak: the voices' memory goes before assembly needs it
                    progress.update(task, description=f"  {label} (assembling)")
                    episode = assemble_episode(script, clips, config, episode_dir, plan.slug, spec.voice,
                                               pool.engine_name, script_hash=script_hash)
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
    stats = pool.stats
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
        + f"; engine {pool.engine_name} ({spec.voice})",
        highlight=False, markup=False, soft_wrap=True)
    out.print(f"feed: {feed}", highlight=False, markup=False, soft_wrap=True)
    log.debug("build summary %s", asdict(summary))
    return built

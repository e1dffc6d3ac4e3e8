"""The `audio-edition` command line.

Exit status: 0 done; 2 bad usage or bad input (one line on stderr); 3 a batch where some articles were refused or
unreadable (each named on stderr) and the others built; 1 anything else (message + hint; `--debug` shows the
traceback). Each command is a thin layer over the library: the pipeline's heavy engines (onnxruntime, scipy) load
only when a command needs them, so that `audio-edition normalize` does not pay for them.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from pathlib import Path

import click

from audio_edition import __version__
from audio_edition.build.display import Terminal
from audio_edition.build.run import run_build
from audio_edition.config import Config, load_config
from audio_edition.errors import EXIT_SOME_SKIPPED, AudioEditionError, InputError, RefusedArticle
from audio_edition.extract import extract_article
from audio_edition.extract.guards import (
    check_article,
    clear_unpacked_model,
    guard_policy,
    unpacked_model_bytes,
    unpacked_model_path,
)
from audio_edition.models import script_to_dict
from audio_edition.publish.durations import clock
from audio_edition.publish.feed import is_local_url
from audio_edition.publish.links import dropped_link_note
from audio_edition.publish.publisher import list_episodes, regenerate, remove_episode
from audio_edition.publish.serve import serve_directory
from audio_edition.scale.cli import enqueue_sources, print_status, sweep_staged
from audio_edition.scale.jobs import require_broker, settings
from audio_edition.scale.worker import run_worker
from audio_edition.sources.reader import read_source
from audio_edition.speech.lexicon import load_lexicon
from audio_edition.speech.normalize import normalize as to_spoken
from audio_edition.speech.report import glued_repairs, guessed_words
from audio_edition.speech.script import build_script, check_script_config, spoken_title_note
from audio_edition.speech.wordlist import clear_kept_word_list, kept_word_list_bytes, kept_word_list_path
from audio_edition.voice.catalogue import (
    download_voice,
    print_voice_info,
    print_voice_list,
)
from audio_edition.voice.clip_cache import open_clip_cache
from audio_edition.voice.piper import clear_voice_parts, voice_parts_root, voice_parts_usage
from audio_edition.voice.spec import remembered_digests_path


class _Context:
    def __init__(self, debug: bool, config_path: str | None) -> None:
        self.debug = debug
        self.config_path = config_path

    def config(self):
        return load_config(self.config_path)


pass_ctx = click.make_pass_decorator(_Context)


def _print_json(data: object) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _guard_options(command):
    """--lang and --allow-partial: what the content guards let through (over [script] allow_languages and
    allow_partial)."""
    command = click.option("--allow-partial", is_flag=True, default=None,
                           help="Build an article cut by a paywall as an excerpt (said so in the intro, the page "
                                "and the feed) instead of refusing it.")(command)
    return click.option("--lang", "lang", default=None, metavar="LANG",
                        help="Build articles in LANG too (e.g. en), read by a voice of that language.")(command)


def _guarded(config, lang: str | None, allow_partial: bool | None):
    """CONFIG with --lang added to the allowed languages and --allow-partial set."""
    policy = guard_policy(config, lang)  # checks the config's values and the flag
    return config.replace("script", allow_languages=tuple(sorted(policy.allow_languages)),
                          allow_partial=True if allow_partial else None)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audio-edition")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: ./audio-edition.toml when present).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, config_path: str | None) -> None:
    """Turn French news articles into audio editions."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = _Context(debug, config_path)


# --- extract -------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the Article as JSON (fields documented in the README).")
@pass_ctx
def extract(obj: _Context, source: str, as_json: bool) -> None:
    """Print the cleaned article: the title on line 1, then one block per line."""
    config = obj.config()
    article = extract_article(read_source(source, config.limits), config.limits.max_blocks)
    try:
        check_article(article, guard_policy(config))
    except RefusedArticle as exc:  # extract shows the article all the same; build would refuse it
        click.echo(f"audio-edition: warning: build would refuse it: {exc.one_line()}", err=True)
    if as_json:
        _print_json(article.to_dict())
        return
    click.echo(article.title)
    if article.standfirst:
        click.echo(article.standfirst)
    for block in article.blocks:
        click.echo(block.text)


# --- normalize / script --------------------------------------------------------------------------------------
@cli.command()
@click.argument("text", nargs=-1, required=True)
@pass_ctx
def normalize(obj: _Context, text: tuple[str, ...]) -> None:
    """Print the spoken form of TEXT, as the voice will get it."""
    config = obj.config()
    click.echo(to_spoken(" ".join(text), load_lexicon(config.resolve(config.script.lexicon))))


@cli.command()
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the full Script structure as JSON.")
@click.option("--report", is_flag=True, help="List the words espeak-ng will guess, to add to the lexicon.")
@_guard_options
@pass_ctx
def script(obj: _Context, source: str, as_json: bool, report: bool, lang: str | None,
           allow_partial: bool | None) -> None:
    """Print every utterance in order, with the pause after it."""
    config = _guarded(obj.config(), lang, allow_partial)
    check_script_config(config)
    lexicon = load_lexicon(config.resolve(config.script.lexicon))
    article = check_article(extract_article(read_source(source, config.limits), config.limits.max_blocks),
                            guard_policy(config))
    the_script = build_script(article, config, lexicon)
    if report:
        for entry in guessed_words(the_script, lexicon):
            click.echo(entry.format())
        for repair in glued_repairs(the_script, lexicon):
            click.echo(f"{repair.written}\t1\tglued words, split\t{repair.repaired}")
        for note in (dropped_link_note(article.url), spoken_title_note(article, the_script)):
            if note:
                click.echo(note)
        return
    if as_json:
        _print_json(script_to_dict(the_script))
        return
    for u in the_script.utterances:
        click.echo(f"[{u.kind} +{u.pause_after_ms}ms] {u.spoken}")


# --- build / feed --------------------------------------------------------------------------------------------
@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="output", show_default=True)
@click.option("--voice", default=None, help="Piper voice name or path to a .onnx file.")
@click.option("--engine", type=click.Choice(["piper", "espeak"]), default=None,
              help="Speech engine (default: Piper when a voice is available, else espeak with a warning).")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Parallel synthesis workers (default: cores).")
@click.option("--speaker", type=int, default=None, help="Speaker id for multi-speaker voices.")
@click.option("--length-scale", type=float, default=None, help="Speaking rate (>1 slower).")
@click.option("--bitrate", type=click.IntRange(32, 320), default=None, help="MP3 CBR bitrate in kbps.")
@click.option("--base-url", default=None, help="Public URL where the output folder is served.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Clip cache folder (default: the user cache dir).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the clip cache.")
@click.option("--no-wait", is_flag=True, help="Fail at once if another build is using the output folder.")
@click.option("--stats-json", type=click.Path(dir_okay=False), default=None,
              help="Write this run's timings and counts as JSON (used by bench/).")
@_guard_options
@pass_ctx
def build(obj: _Context, sources: tuple[str, ...], out_dir: str, voice: str | None, engine: str | None,
          jobs: int | None, speaker: int | None, length_scale: float | None, bitrate: int | None,
          base_url: str | None, cache_dir: str | None, no_cache: bool, no_wait: bool,
          stats_json: str | None, lang: str | None, allow_partial: bool | None) -> None:
    """Build episodes (MP3, transcripts, chapters), then the feed and the pages."""
    config = (
        _guarded(obj.config(), lang, allow_partial)
        .replace("voice", voice=voice, engine=engine, speaker=speaker, length_scale=length_scale)
        .replace("audio", bitrate_kbps=bitrate)
        .replace("podcast", base_url=base_url)
        .replace("cache", directory=cache_dir, enabled=False if no_cache else None)
    )
    outcome = run_build(list(sources), Path(out_dir), config, jobs=jobs, display=Terminal(),
                        wait_for_lock=not no_wait,
                        stats_file=Path(stats_json) if stats_json else None)
    _warn_local_base_url(config)
    if outcome.skipped:
        click.echo(f"audio-edition: {len(outcome.skipped)} article(s) not built: refused or unreadable "
                   "(named above)", err=True)
        click.get_current_context().exit(EXIT_SOME_SKIPPED)


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="output", show_default=True)
@pass_ctx
def feed(obj: _Context, out_dir: str) -> None:
    """Regenerate feed.xml and the episode pages from the episode store."""
    config = obj.config()
    path = regenerate(Path(out_dir), config)
    click.echo(f"feed written: {path}")
    _warn_local_base_url(config)


def _warn_local_base_url(config: Config) -> None:
    """One yellow line when the feed and embeds would point at the local preview address: fine to try the site
    out, useless to anyone else."""
    if is_local_url(config.podcast.base_url):
        click.secho(f"audio-edition: the feed and embeds point at the local preview address "
                    f"{config.podcast.base_url.strip()}; set the public one with --base-url URL or "
                    f"[podcast] base_url in audio-edition.toml", fg="yellow", err=True)


# --- voices --------------------------------------------------------------------------------------------------
@cli.group()
def voices() -> None:
    """List, download and inspect Piper voices."""


@voices.command("list")
def voices_list() -> None:
    """Installed voices and the French catalogue."""
    print_voice_list()


@voices.command("download")
@click.argument("name")
@click.option("--dest", type=click.Path(file_okay=False), default=None, help="Folder (default: ./voices).")
def voices_download(name: str, dest: str | None) -> None:
    """Fetch NAME.onnx and NAME.onnx.json, md5-checked against the catalogue."""
    path = download_voice(name, Path(dest) if dest else None)
    click.echo(f"voice installed: {path}")


@voices.command("info")
@click.argument("name")
def voices_info(name: str) -> None:
    """Where a voice is and what it is (sample rate, speakers, espeak voice, licence)."""
    print_voice_info(name)


# --- serve ---------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("directory", default="output", type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=int, show_default=True)
@click.option("--api", is_flag=True, help="Serve the CMS webhook (POST /articles, GET /jobs/ID) instead of DIR.")
@pass_ctx
def serve(obj: _Context, directory: str, host: str, port: int, api: bool) -> None:
    """Preview DIR locally (HEAD and byte ranges, so seeking works), or with --api run the webhook."""
    if api:
        require_broker(obj.config())  # no broker or no Celery: said in one line before the web stack loads
        try:
            from audio_edition.scale.webhook import serve_api  # the distributed extra's web stack, only for --api
        except ImportError as exc:
            raise InputError(f"the webhook needs Starlette and uvicorn ({exc.name} is missing)",
                             "pip install 'audio-edition[distributed]'") from None
        serve_api(obj.config(), host, port)
        return

    serve_directory(Path(directory), host, port)


# --- distributed: Celery workers on Redis (scale/) ---------------------------------------------------------
@cli.command()
@click.option("--queues", default=None, help="Comma-separated queues (default: articles; the publish queue needs "
              "exactly one worker with --concurrency 1).")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Articles built at once by this worker (one process and one voice each).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="The publisher's folder (its store, feed, pages), or a build worker's scratch space "
                   "(default: [distributed] output_dir).")
@click.option("--voice", default=None, help="Piper voice name or path to a .onnx file.")
@click.option("--engine", type=click.Choice(["piper", "espeak"]), default=None)
@click.option("--loglevel", default="INFO", show_default=True)
@pass_ctx
def worker(obj: _Context, queues: str | None, concurrency: int, out_dir: str | None, voice: str | None,
           engine: str | None, loglevel: str) -> None:
    """Start a Celery worker (needs AUDIO_EDITION_BROKER_URL or [distributed] broker_url)."""
    config = obj.config().replace("voice", voice=voice, engine=engine)
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    run_worker(config, Path(out_dir or settings(config).output_dir), names, concurrency, loglevel.upper())


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--wait", is_flag=True, help="Show a progress bar until every article is published.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after this many seconds.")
@_guard_options
@pass_ctx
def enqueue(obj: _Context, sources: tuple[str, ...], wait: bool, timeout: float | None, lang: str | None,
            allow_partial: bool | None) -> None:
    """Submit articles to the workers (a directory or a site feed gives one job per article)."""
    if enqueue_sources(_guarded(obj.config(), lang, allow_partial), list(sources), wait=wait,
                       timeout=timeout).skipped:
        click.get_current_context().exit(EXIT_SOME_SKIPPED)


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Recent jobs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print counts, queue lengths and jobs as JSON.")
@pass_ctx
def status(obj: _Context, limit: int, as_json: bool) -> None:
    """Queued, running and failed jobs, and what waits in the broker."""
    print_status(obj.config(), limit=limit, as_json=as_json)


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="The publisher's output folder (default: [distributed] output_dir).")
@click.option("--older-than", type=click.FloatRange(min=0), default=None,
              help="Seconds (default: [distributed] staging_max_age_s).")
@pass_ctx
def sweep(obj: _Context, out_dir: str | None, older_than: float | None) -> None:
    """Remove staged episodes of dead jobs from the staging store (those waiting for the publisher are kept)."""
    config = obj.config()
    sweep_staged(config, Path(out_dir or settings(config).output_dir), older_than)


# --- episodes (the episode store) -----------------------------------------------------------------------------
@cli.group()
def episodes() -> None:
    """List and remove the episodes in the store."""


@episodes.command("list")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="output", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print every stored field as JSON.")
def episodes_list(out_dir: str, as_json: bool) -> None:
    """Every episode, newest first: status, date, duration, slug, title."""
    rows = list_episodes(Path(out_dir))
    if as_json:
        _print_json([row.to_dict() for row in rows])
        return
    for row in rows:
        duration = clock(row.duration) if row.duration is not None else "-"
        click.echo(f"{row.status:<9} {row.published_at:%Y-%m-%d %H:%M} {duration:>6}  {row.slug}  {row.title}")


@episodes.command("remove")
@click.argument("slug")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="output", show_default=True)
@click.option("--delete-files", is_flag=True, help="Also delete episodes/SLUG/ (MP3, transcripts, page).")
@pass_ctx
def episodes_remove(obj: _Context, slug: str, out_dir: str, delete_files: bool) -> None:
    """Take SLUG out of the feed (its GUID stays reserved; files are kept unless --delete-files)."""
    row = remove_episode(Path(out_dir), obj.config(), slug, delete_files=delete_files)
    click.echo(f"removed from the feed: {row.slug}" + (" (files deleted)" if delete_files else ""))


# --- cache ---------------------------------------------------------------------------------------------------
@cli.group()
def cache() -> None:
    """Inspect or empty the clip cache (synthesised sentences reused by later builds)."""


@cache.command("info")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Cache folder.")
@pass_ctx
def cache_info(obj: _Context, cache_dir: str | None) -> None:
    """Where the cache is, how many clips and bytes it holds."""
    config = obj.config().replace("cache", directory=cache_dir, enabled=True)
    clips = open_clip_cache(config)
    assert clips is not None  # enabled above
    info = clips.info()

    voices, size = voice_parts_usage()
    model, model_size = unpacked_model_path(), unpacked_model_bytes()
    words, words_size = kept_word_list_path(), kept_word_list_bytes()
    click.echo(f"directory: {info.directory}\nclips: {info.entries}\nsize: {info.total_bytes / 1e6:.1f} MB "
               f"(cap {info.max_bytes / 1e6:.0f} MB)\n"
               f"voice parts: {voices} voice(s) cut for faster synthesis, {size / 1e6:.1f} MB in {voice_parts_root()}\n"
               f"language model: {f'{model_size / 1e6:.1f} MB unpacked in {model}' if model_size else 'not unpacked'}\n"
               f"word list: {f'{words_size / 1e6:.1f} MB kept in {words}' if words_size else 'not kept'}")


@cache.command("clear")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Cache folder.")
@pass_ctx
def cache_clear(obj: _Context, cache_dir: str | None) -> None:
    """Delete every cached clip, the kept voice parts (a build cuts its voice again), the kept word list and the
    unpacked language model (made again when next needed)."""
    config = obj.config().replace("cache", directory=cache_dir, enabled=True)
    clips = open_clip_cache(config)
    assert clips is not None  # enabled above
    model = " and the unpacked language model" if clear_unpacked_model() else ""
    words = ", the kept word list" if clear_kept_word_list() else ""
    remembered_digests_path().unlink(missing_ok=True)  # the voices' remembered fingerprints: made again when needed
    click.echo(f"removed {clips.clear()} clips{words} and the parts of {clear_voice_parts()} voice(s){model}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and maps errors to exit statuses and one-line messages."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        status = cli.main(args=argv, prog_name="audio-edition", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("audio-edition: interrupted", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        click.echo(f"audio-edition: {' '.join(exc.format_message().split())} (see --help)", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"audio-edition: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except AudioEditionError as exc:
        if debug:
            raise
        click.echo(f"audio-edition: {exc.one_line()}", err=True)
        return exc.exit_status
    except KeyboardInterrupt:
        click.echo("audio-edition: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last line of defence: no traceback unless --debug
        if debug:
            raise
        click.echo(f"audio-edition: internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)",
                   err=True)
        return 1
    return status if isinstance(status, int) else 0


def run() -> None:
    """The `audio-edition` command: main(), then exit without the interpreter's last garbage collections.

    A build leaves many objects (numpy, scipy, onnxruntime, the lexicon); the collections Python runs while it
    tears its modules down cost a noticeable part of a second after every build (docs/speed.md), for memory the
    process gives back anyway. Frozen, they are skipped (files are closed and exit handlers run as usual). Not in main(), which tests call in-process.
    """
    status = main()

    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()

"""The library face: what a newsroom developer calls from a CMS plugin, a script or a notebook.

Each function is one stage of the pipeline, or all of them; none prints anything (warnings go to logging) and
none needs a terminal. Errors are `audio_edition.errors.InputError` (bad article, bad setting: exit status 2 on
the command line) or `AudioEditionError` (the machine: a missing voice, a full disk).

    from audio_edition import build_episode, extract_article, spoken_form

    article = extract_article(html, url="https://exemple.fr/article")
    print(spoken_form("Le 1er mai 2024, 15 % des 12 000 salariés."))
    episode = build_episode("article.html", "output/")
"""

from __future__ import annotations

from pathlib import Path

from audio_edition.build.display import Silent
from audio_edition.build.run import BuildOutcome, run_build
from audio_edition.config import Config, load_config
from audio_edition.extract import extract_article as _extract
from audio_edition.extract.guards import check_article, guard_policy
from audio_edition.models import Article, Episode, Script, SourceDocument
from audio_edition.speech.lexicon import Lexicon, load_lexicon
from audio_edition.speech.normalize import normalize
from audio_edition.speech.script import build_script


def _config(config: Config | str | Path | None) -> Config:
    return config if isinstance(config, Config) else load_config(config)


def extract_article(html: str, *, url: str | None = None, kind: str = "html") -> Article:
    """The article in HTML (or, with kind="text", a plain-text scrape): title, standfirst and the blocks a listener
    hears, without the page's furniture. URL is the page's address, for relative links and the episode's link."""
    if kind not in ("html", "text"):
        raise ValueError(f"kind must be 'html' or 'text', not {kind!r}")
    return _extract(SourceDocument(text=html, kind="html" if kind == "html" else "text", location=url or "article",
                                   url=url))


def spoken_form(text: str, lexicon: Lexicon | None = None) -> str:
    """TEXT as the voice gets it: numbers, dates, units, abbreviations and the lexicon's words spelled out in
    French (the built-in lexicon when none is given)."""
    return normalize(text, lexicon if lexicon is not None else load_lexicon())


def article_script(article: Article, config: Config | str | Path | None = None) -> Script:
    """What will be read, in order, with its pauses — after the content guards (language, paywall, length) have
    accepted the article (a refused one raises `RefusedArticle`)."""
    settings = _config(config)
    checked = check_article(article, guard_policy(settings))
    return build_script(checked, settings, load_lexicon(settings.resolve(settings.script.lexicon)))


def build_sources(sources: list[str | Path], out_dir: str | Path, config: Config | str | Path | None = None, *,
          jobs: int | None = None) -> BuildOutcome:
    """What `audio-edition build` does, without a terminal: every source (file, folder, URL, site feed) into
    OUT_DIR, then the feed and pages. The outcome lists the episodes built and the sources skipped."""
    return run_build([str(s) for s in sources], Path(out_dir), _config(config), jobs=jobs, display=Silent())


def build_episode(source: str | Path, out_dir: str | Path, config: Config | str | Path | None = None, *,
                  jobs: int | None = None) -> Episode | None:
    """One article (a file, a URL) into OUT_DIR: its episode, or None when the published one is already up to
    date. The feed and pages are regenerated."""
    outcome = build_sources([source], out_dir, config, jobs=jobs)
    return outcome.episodes[0] if outcome.episodes else None

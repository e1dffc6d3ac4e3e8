"""feed.xml: an RSS 2.0 podcast feed that passes Apple Podcasts, PSP-1 and Podcasting 2.0 rules, built with feedgen.

The feed is a pure function of the store rows, the config and the files on disk: same inputs → byte-identical
feed.xml (no wall-clock time anywhere: lastBuildDate is the newest episode's date). The file is only rewritten
when its bytes change, atomically.

feedgen 1.0 traps, each worked around here (and tested in tests/test_feed.py):
- `add_entry()` *prepends* by default, which reverses the order entries are added in → we pass order="append".
- lastBuildDate defaults to "now" → we always set it (newest episode date; the store's creation date when empty).
- the RSS `<link>` is the *last* link added, whatever its rel → the self link goes first, the site link last.
- the channel `itunes_image()` silently drops a URL not ending in .jpg/.png (the item one raises) → our cover file
  is always named *.jpg/*.png, and item images go through our own extension.
- `itunes_explicit()` only accepts "yes"/"no"/"clean" → "true"/"false" written by podcast_ext.ItunesExtras.
- `feedgen.util` uses `lxml.etree` after a bare `import lxml` → we import lxml.etree before any feedgen module.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import lxml.etree  # noqa: F401  (feedgen.util uses lxml.etree without importing it; lxml 6 no longer pre-loads it)
from feedgen.ext.podcast import PodcastExtension
from feedgen.ext.podcast_entry import PodcastEntryExtension
from feedgen.feed import FeedGenerator

from audio_edition import __version__
from audio_edition.config import Config, PodcastConfig
from audio_edition.errors import InputError
from audio_edition.fileio import atomic_write_bytes
from audio_edition.publish.artwork import ARTWORK_FILE
from audio_edition.publish.durations import whole_seconds
from audio_edition.publish.links import safe_link
from audio_edition.publish.podcast_ext import (
    ItunesExtras,
    ItunesExtrasEntry,
    PodcastNamespace,
    PodcastNamespaceEntry,
    Transcript,
    podcast_guid,
)
from audio_edition.publish.store import StoredEpisode
from audio_edition.speech.segment import fold_spaces

log = logging.getLogger(__name__)

FEED_NAME = "feed.xml"
MAX_CHANNEL_DESCRIPTION_BYTES = 4000  # Apple and PSP-1
MAX_TITLE_CHARS = 255  # PSP-1: node values are limited to 255 characters unless said otherwise
ENGINE_NAMES = {"piper": "Piper", "espeak": "espeak-ng"}

# Apple Podcasts categories (https://podcasters.apple.com/support/1691-apple-podcasts-categories).
APPLE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Arts": ("Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"),
    "Business": ("Careers", "Entrepreneurship", "Investing", "Management", "Marketing", "Non-Profit"),
    "Comedy": ("Comedy Interviews", "Improv", "Stand-Up"),
    "Education": ("Courses", "How To", "Language Learning", "Self-Improvement"),
    "Fiction": ("Comedy Fiction", "Drama", "Science Fiction"),
    "Government": (),
    "History": (),
    "Health & Fitness": ("Alternative Health", "Fitness", "Medicine", "Mental Health", "Nutrition", "Sexuality"),
    "Kids & Family": ("Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"),
    "Leisure": ("Animation & Manga", "Automotive", "Aviation", "Crafts", "Games", "Hobbies", "Home & Garden",
                "Video Games"),
    "Music": ("Music Commentary", "Music History", "Music Interviews"),
    "News": ("Business News", "Daily News", "Entertainment News", "News Commentary", "Politics", "Sports News",
             "Tech News"),
    "Religion & Spirituality": ("Buddhism", "Christianity", "Hinduism", "Islam", "Judaism", "Religion",
                                "Spirituality"),
    "Science": ("Astronomy", "Chemistry", "Earth Sciences", "Life Sciences", "Mathematics", "Natural Sciences",
                "Nature", "Physics", "Social Sciences"),
    "Society & Culture": ("Documentary", "Personal Journals", "Philosophy", "Places & Travel", "Relationships"),
    "Sports": ("Baseball", "Basketball", "Cricket", "Fantasy Sports", "Football", "Golf", "Hockey", "Rugby",
               "Running", "Soccer", "Swimming", "Tennis", "Volleyball", "Wilderness", "Wrestling"),
    "Technology": (),
    "True Crime": (),
    "TV & Film": ("After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"),
}


def base_url(podcast: PodcastConfig) -> str:
    """The configured base URL, checked, with exactly one trailing slash."""
    url = podcast.base_url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"podcast.base_url must be an absolute http(s) URL, not {url!r}",
                         "e.g. base_url = \"https://example.org/podcast/\"")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        log.warning("podcast.base_url is plain http: Apple Podcasts and the podcast namespace expect https")
    return url.rstrip("/") + "/"


def is_local_url(url: str) -> bool:
    """True for an address only this machine can reach (the default preview address, localhost)."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return False
    return host in ("127.0.0.1", "localhost", "::1") or bool(host and host.startswith("127."))


def feed_url(podcast: PodcastConfig) -> str:
    return urljoin(base_url(podcast), FEED_NAME)


def episode_url(base: str, slug: str, file_name: str = "") -> str:
    """Absolute URL of a file in episodes/<slug>/ (path segments percent-encoded)."""
    return urljoin(base, f"episodes/{quote(slug)}/{quote(file_name)}")


def engine_name(engine: str) -> str:
    return ENGINE_NAMES.get(engine, engine)


def ai_content_txt(episodes: Sequence[StoredEpisode]) -> str:
    """podcast:txt purpose="ai-content": a sentence a listener can read (some parsers drop a bare "true"), naming
    the synthetic voices the episodes in the feed are read by."""
    voices = sorted({(engine_name(r.engine or ""), r.voice) for r in episodes if r.engine and r.voice})
    named = " ; ".join(f"{engine}, voix {voice}" for engine, voice in voices)
    sentence = ("Les épisodes de ce podcast sont des articles lus par une voix de synthèse, non par une personne"
                + (f" ({named})." if named else "."))
    return sentence if len(sentence) <= 4000 else sentence[:3999] + "…"


def check_podcast_config(podcast: PodcastConfig) -> None:
    """InputError for any [podcast] setting that would make an invalid feed (call it before a long build)."""
    base_url(podcast)
    window = podcast.feed_window
    if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
        raise InputError(f"podcast.feed_window must be a whole number of episodes (1 or more), not {window!r}")
    size = len(podcast.description.encode("utf-8"))
    if not podcast.description.strip():
        raise InputError("podcast.description is empty; Apple Podcasts requires one")
    if size > MAX_CHANNEL_DESCRIPTION_BYTES:
        raise InputError(f"podcast.description is {size} bytes; Apple Podcasts allows {MAX_CHANNEL_DESCRIPTION_BYTES}")
    if not podcast.title.strip():
        raise InputError("podcast.title is empty")
    if podcast.category not in APPLE_CATEGORIES:
        raise InputError(f"podcast.category {podcast.category!r} is not an Apple Podcasts category",
                         "e.g. \"News\"; see docs/feed.md")
    if podcast.subcategory and podcast.subcategory not in APPLE_CATEGORIES[podcast.category]:
        choices = APPLE_CATEGORIES[podcast.category]
        raise InputError(f"podcast.subcategory {podcast.subcategory!r} is not under {podcast.category!r}",
                         f"choose one of: {', '.join(choices)}" if choices else f"{podcast.category!r} has none")
    if "@" not in podcast.owner_email:
        raise InputError(f"podcast.owner_email {podcast.owner_email!r} is not an e-mail address")


# Characters XML 1.0 forbids (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/U+FFFF): lxml refuses them, and
# a stray one in a scraped title must not take the whole feed down.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _short(text: str, limit: int = MAX_TITLE_CHARS) -> str:
    text = fold_spaces(xml_text(text))  # French no-break spaces kept (before « » : ; ! ?, in "12 000")
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def build_feed(out_dir: Path, config: Config, episodes: Sequence[StoredEpisode], cover_file: str,
               *, channel_guid: str | None = None, empty_date: datetime | None = None) -> bytes:
    """The feed.xml bytes for `episodes` (newest first, as the store gives them)."""
    podcast = config.podcast
    check_podcast_config(podcast)
    base = base_url(podcast)
    self_url = urljoin(base, FEED_NAME)
    site = podcast.site_url or base
    cover_url = urljoin(base, quote(cover_file))

    fg = FeedGenerator()
    fg.register_extension("itunes", PodcastExtension, PodcastEntryExtension)
    fg.register_extension("podcast", PodcastNamespace, PodcastNamespaceEntry)
    fg.register_extension("itunes_extras", ItunesExtras, ItunesExtrasEntry)

    fg.title(_short(podcast.title))
    fg.description(xml_text(podcast.description.strip()))
    fg.link(href=self_url, rel="self", type="application/rss+xml")
    fg.link(href=site, rel="alternate")  # last: feedgen takes the RSS <link> from the last link added
    fg.language(podcast.language)
    fg.copyright(podcast.copyright or podcast.author)  # PSP-1: no "Copyright", no ©, no year
    fg.generator(f"audio-edition {__version__}")
    fg.image(url=cover_url, title=_short(podcast.title), link=site)

    fg.itunes.itunes_image(cover_url)
    if fg.itunes.itunes_image() != cover_url:  # feedgen drops a non-.jpg/.png URL without a word
        raise AssertionError(f"cover URL rejected by feedgen: {cover_url}")
    fg.itunes.itunes_category(podcast.category, podcast.subcategory)
    fg.itunes.itunes_author(podcast.author)
    fg.itunes.itunes_owner(name=podcast.owner_name, email=podcast.owner_email)
    fg.itunes.itunes_type("episodic")
    fg.itunes_extras.explicit(podcast.explicit)

    fg.podcast.guid(channel_guid or podcast_guid(self_url))
    fg.podcast.locked(podcast.locked, podcast.owner_email)
    # The whole show is read by a synthetic voice: say so machine-readably (and in every item's description).
    fg.podcast.txt(ai_content_txt(episodes), purpose="ai-content")

    newest: datetime | None = None
    for row in episodes:
        if _add_item(fg, out_dir, base, row, podcast, language=podcast.language):
            newest = max(newest or row.published_at, row.published_at)
    last_build = newest or empty_date
    if last_build is None:
        raise ValueError("an empty feed needs empty_date")
    fg.lastBuildDate(last_build)  # never the feedgen default (now): unchanged store → identical bytes
    fg.pubDate(last_build)
    return fg.rss_str(pretty=True, xml_declaration=True, encoding="UTF-8")


def _add_item(fg: FeedGenerator, out_dir: Path, base: str, row: StoredEpisode, podcast: PodcastConfig,
              language: str) -> bool:
    folder = Path(out_dir) / "episodes" / row.slug
    audio = folder / (row.audio_file or "")
    if not row.audio_file or not audio.is_file():
        log.warning("%s: audio file %s is missing; left out of the feed (rebuild it)", row.slug, audio)
        return False
    entry = fg.add_entry(order="append")  # feedgen prepends by default
    entry.title(_short(row.title))
    entry.description(xml_text(row.description))
    entry.content(xml_text(_item_html(row, base)), type="CDATA")
    entry.link(href=safe_link(row.source_url) or episode_url(base, row.slug))
    entry.guid(row.guid, permalink=False)
    entry.pubDate(row.published_at)
    # length: the exact byte size of the file as it is on disk now, not what a build once said.
    entry.enclosure(episode_url(base, row.slug, row.audio_file), str(audio.stat().st_size), "audio/mpeg")
    entry.itunes.itunes_duration(str(whole_seconds(row.duration)))  # the one rounding (durations.py)
    entry.itunes.itunes_episode_type("full")
    entry.itunes_extras.explicit(podcast.explicit)
    # Only the square artwork made for the episode (publish/artwork.py): the article's own photo is never square
    # and 1400-3000 px, and Apple refuses an item whose artwork is not.
    if (folder / ARTWORK_FILE).is_file():
        entry.itunes_extras.image(episode_url(base, row.slug, ARTWORK_FILE))
    for file_name, mime in ((row.transcript_vtt, "text/vtt"), (row.transcript_srt, "application/x-subrip")):
        if file_name and (folder / file_name).is_file():
            entry.podcast.transcript(Transcript(episode_url(base, row.slug, file_name), mime, language, "captions"))
    if row.chapters and (folder / row.chapters).is_file():
        entry.podcast.chapters(episode_url(base, row.slug, row.chapters))
    return True


def _item_html(row: StoredEpisode, base: str) -> str:
    """content:encoded: the description as paragraphs, plus a link to the read-along page (PSP-1 allowed tags)."""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in row.description.split("\n\n") if p.strip())
    page = escape(episode_url(base, row.slug), quote=True)
    return f'{paragraphs}<p><a href="{page}">Transcription et lecteur synchronisé</a></p>'


def write_feed(out_dir: Path, config: Config, episodes: Sequence[StoredEpisode], cover_file: str,
               *, channel_guid: str | None = None, empty_date: datetime | None = None) -> Path:
    """Write `<out_dir>/feed.xml` atomically, only when its bytes change. Returns its path."""
    data = build_feed(out_dir, config, episodes, cover_file, channel_guid=channel_guid, empty_date=empty_date)
    path = Path(out_dir) / FEED_NAME
    if path.is_file() and path.read_bytes() == data:
        log.info("feed.xml unchanged")
        return path
    atomic_write_bytes(path, data)
    log.info("feed.xml written: %d episode(s)", data.count(b"<item>"))
    return path

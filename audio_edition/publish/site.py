"""The show's home page: `index.html` at the output root (then `page-2.html`, `page-3.html`… for a long show).

Made from the store rows alone, like the feed: the show's title, description and cover; how to subscribe (the feed
address with a copy button, RSS autodiscovery, the podcast apps the config names); the episodes, newest first,
each with its date, duration, standfirst, a play button that plays it in place (`player/show.js` puts the one
read-along player in the episode's slot) and a link to its page.

Every link is relative and names a file (`episodes/<slug>/index.html`, `page-2.html`), so the output folder works
as is on any static host, and even opened from the disk. Pages are only rewritten when their bytes change, and a
page that is no longer needed (the show got shorter) is removed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from string import Template
from urllib.parse import quote, urljoin
from zoneinfo import ZoneInfo

from audio_edition.config import Config
from audio_edition.fileio import atomic_write_bytes
from audio_edition.publish.feed import FEED_NAME, base_url
from audio_edition.publish.json_feed import JSON_FEED_NAME
from audio_edition.publish.links import safe_link
from audio_edition.publish.pages import (
    MONTHS,
    SHOW_LABEL,
    _e,
    file_size,
    read_template,
    spoken_duration,
)
from audio_edition.publish.store import StoredEpisode

log = logging.getLogger(__name__)

PAGE_SIZE = 30  # episodes per page: a day or two of a newsroom's articles, light enough on a phone
SHOW_TZ = ZoneInfo("Europe/Paris")  # dates are shown as a French reader's calendar has them
STANDFIRST_CHARS = 320
# [podcast] keys naming the show's page in a podcast app, in the order they are shown, with the app's name.
PODCAST_APPS = (
    ("apple_podcasts_url", "Apple Podcasts"),
    ("spotify_url", "Spotify"),
    ("deezer_url", "Deezer"),
    ("youtube_music_url", "YouTube Music"),
    ("amazon_music_url", "Amazon Music"),
    ("pocket_casts_url", "Pocket Casts"),
    ("overcast_url", "Overcast"),
    ("podcast_addict_url", "Podcast Addict"),
)
_STALE_PAGE = re.compile(r"^page-(\d+)\.html$")

SHOW = Template(read_template("show.html"))  # $names are filled in escaped


def page_name(number: int) -> str:
    return "index.html" if number == 1 else f"page-{number}.html"


def local_date(iso: str | None) -> tuple[str, str] | None:
    """An ISO moment (UTC in the store) → (its ISO form, '21 mai 2024' as the date is in Paris)."""
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(SHOW_TZ)
    day = "1er" if moment.day == 1 else str(moment.day)
    return iso, f"{day} {MONTHS[moment.month - 1]} {moment.year}"


def lead(description: str, limit: int = STANDFIRST_CHARS) -> str:
    """The standfirst part of a stored description (its first paragraph), cut at a word near `limit`."""
    text = " ".join(description.split("\n\n", 1)[0].split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def _episode_item(row: StoredEpisode) -> str:
    folder = f"episodes/{quote(row.slug)}/"
    page = folder + "index.html"
    heading_id = f"ep-{row.slug}"
    parts = [f'<li class="ae-show-episode">\n<article aria-labelledby="{_e(heading_id)}">',
             f'<h3 id="{_e(heading_id)}"><a href="{_e(page)}">{_e(row.title)}</a></h3>']
    meta = []
    when = local_date(row.published)
    if when:
        meta.append(f'<time datetime="{_e(when[0])}">{_e(when[1])}</time>')
    if row.duration:
        meta.append(f"Durée\u00a0: {spoken_duration(row.duration)}")
    if meta:
        parts.append(f'<p class="ae-show-meta">{" · ".join(meta)}</p>')
    standfirst = lead(row.description)
    if standfirst:
        parts.append(f'<p class="ae-show-standfirst">{_e(standfirst)}</p>')
    audio = folder + quote(row.audio_file or "")
    data = {
        "data-audio": audio,
        "data-title": row.title,
        "data-page": page,
        "data-duration": f"{row.duration or 0:.3f}",
    }
    if row.transcript_vtt:
        data["data-vtt"] = folder + quote(row.transcript_vtt)
    if row.chapters:
        data["data-chapters"] = folder + quote(row.chapters)
    attributes = " ".join(f'{name}="{_e(value)}"' for name, value in data.items())
    size = f" ({file_size(row.audio_bytes)})" if row.audio_bytes else ""
    parts.append(
        f'<div class="ae-show-listen" {attributes}>\n'
        f'<p class="ae-show-links"><a href="{_e(page)}">Écouter et lire la transcription'
        f'<span class="ae-vh">\u00a0: {_e(row.title)}</span></a> · <a href="{_e(audio)}" download>MP3{size}'
        f'<span class="ae-vh">\u00a0: {_e(row.title)}</span></a></p>\n</div>'
    )
    parts.append("</article>\n</li>")
    return "\n".join(parts)


def _pagination(number: int, pages: int) -> str:
    """Previous / numbered / next links; on a long show, the first, the last and the two around this page."""
    if pages <= 1:
        return ""
    shown = sorted({1, pages, *range(max(1, number - 2), min(pages, number + 2) + 1)})
    items = []
    if number > 1:
        items.append(f'<li><a href="{page_name(number - 1)}" rel="prev">Page précédente</a></li>')
    previous = 0
    for n in shown:
        if n - previous > 1:
            items.append('<li class="ae-gap" aria-hidden="true">…</li>')
        current = ' aria-current="page"' if n == number else ""
        items.append(f'<li><a href="{page_name(n)}"{current}><span class="ae-vh">Page </span>{n}</a></li>')
        previous = n
    if number < pages:
        items.append(f'<li><a href="{page_name(number + 1)}" rel="next">Page suivante</a></li>')
    return ('<nav class="ae-pagination" aria-label="Pages des épisodes">\n<ul>\n' + "\n".join(items)
            + "\n</ul>\n</nav>")


def _apps(config: Config) -> str:
    links = []
    for key, name in PODCAST_APPS:
        url = safe_link(getattr(config.podcast, key, None))
        if url:
            links.append(f'<li><a href="{_e(url)}">{_e(name)}</a></li>')
    if not links:
        return ""
    return '<p>Ou retrouvez-le dans votre application\u00a0:</p>\n<ul class="ae-apps">\n' + "\n".join(links) + "\n</ul>"


def render_show_page(config: Config, rows: Sequence[StoredEpisode], number: int, pages: int, cover: str | None,
                     total: int) -> str:
    podcast = config.podcast
    base = base_url(podcast)
    canonical = base if number == 1 else urljoin(base, page_name(number))
    heading = "Épisodes" if pages == 1 else f"Épisodes, page {number} sur {pages}"
    if rows:
        count = f"{total} épisode{'s' if total > 1 else ''}, du plus récent au plus ancien."
        episodes = (f'<p class="ae-show-count">{count}</p>\n<ol class="ae-show-list">\n'
                    + "\n".join(_episode_item(r) for r in rows) + "\n</ol>")
    else:
        episodes = '<p class="ae-show-count">Aucun épisode pour l’instant.</p>'
    return SHOW.substitute(
        title=_e(podcast.title),
        page_title=_e(podcast.title if number == 1 else f"{podcast.title} — page {number}"),
        description=_e(podcast.description.strip()),
        canonical=_e(canonical),
        feed_url=_e(urljoin(base, FEED_NAME)),
        feed_href=FEED_NAME,
        json_feed_href=JSON_FEED_NAME,
        cover=(f'<img class="ae-show-cover" src="{_e(quote(cover))}" alt="" width="160" height="160">'
               if cover else ""),
        author=_e(podcast.author),
        apps=_apps(config),
        heading=_e(heading),
        episodes=episodes,
        pagination=_pagination(number, pages),
        label=_e(SHOW_LABEL),
    )


def write_show_pages(out_dir: Path, config: Config, rows: Sequence[StoredEpisode], cover: str | None) -> list[Path]:
    """Write index.html and the further pages (only the ones whose bytes change); remove pages no longer needed."""
    out_dir = Path(out_dir)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    written = []
    for number in range(1, pages + 1):
        chunk = rows[(number - 1) * PAGE_SIZE: number * PAGE_SIZE]
        path = out_dir / page_name(number)
        atomic_write_bytes(path, render_show_page(config, chunk, number, pages, cover, len(rows)).encode("utf-8"))
        written.append(path)
    for path in out_dir.glob("page-*.html"):
        match = _STALE_PAGE.match(path.name)
        if match and int(match.group(1)) > pages:
            path.unlink(missing_ok=True)
    log.info("show pages: %d page(s), %d episode(s)", pages, len(rows))
    return written

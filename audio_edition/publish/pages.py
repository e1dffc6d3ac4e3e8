"""Episode pages and the embeddable read-along player (static files under `output/`).

`write_episode_page` writes `output/episodes/<slug>/index.html`: a standalone French page with the player, the
chapters and the full text of what the voice reads, one element per sentence carrying its start/end from the
Timeline (the player highlights and seeks with them). `install_player` copies `player.js`/`player.css` to
`output/player/`.

Templating is `string.Template` + `html.escape` on every value: the page is small and fixed, and a template engine
(Jinja2) would be one more dependency for two templates. Every piece of article text goes through `_e()` (text and
attribute values alike), and links taken from the article are kept only when they are http(s).
"""

from __future__ import annotations

import html
import importlib.resources
import logging
from datetime import date, datetime
from itertools import groupby
from pathlib import Path
from string import Template
from urllib.parse import quote

from audio_edition.config import Config
from audio_edition.fileio import atomic_write_bytes
from audio_edition.models import Episode, Span, Utterance
from audio_edition.publish.cover import cover_file
from audio_edition.publish.durations import clock, spoken_duration
from audio_edition.publish.links import safe_link

log = logging.getLogger(__name__)

PLAYER_FILES = ("player.js", "player.css", "show.js", "site.css")  # show.js, site.css: the show page, embeds
SYNTHETIC_LABEL = "Version audio de cet article, lue par une voix de synthèse"
SHOW_LABEL = "Des articles lus par une voix de synthèse"
EMBED_WIDTH, EMBED_HEIGHT = 640, 460  # the embed page at 640 px: title line and the whole player (heading, controls, read-along line)
EXCERPT_NOTICE = "Extrait\u00a0: la suite de l’article est réservée aux abonnés du site d’origine."
DEFAULT_FILES = {"vtt": "transcript.vtt", "srt": "transcript.srt", "chapters": "chapters.json"}
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def _e(value: object) -> str:
    """Escape for HTML text and (double-quoted) attribute values."""
    return html.escape(str(value), quote=True)


def _href(file_name: str) -> str:
    """A relative link to a file next to the page (file names come from slugs: quote them anyway)."""
    return _e(quote(file_name))




def french_date(value: str | None) -> str | None:
    """'2024-05-21' or an ISO datetime → '21 mai 2024'; anything unparsable is left out."""
    if not value:
        return None
    try:
        parsed: date = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    day = "1er" if parsed.day == 1 else str(parsed.day)
    return f"{day} {MONTHS[parsed.month - 1]} {parsed.year}"


def file_size(n_bytes: int) -> str:
    """'2,3 Mo' (French decimal comma)."""
    if n_bytes >= 1_000_000:
        return f"{n_bytes / 1_000_000:.1f} Mo".replace(".", ",")
    return f"{max(1, round(n_bytes / 1000))} ko"


# --- the transcript -------------------------------------------------------------------------------------------
def _sentence(utterance: Utterance, span: Span | None) -> str:
    timing = f' data-start="{span.start:.3f}" data-end="{span.end:.3f}"' if span else ""
    return f'<span class="ae-s" id="s{utterance.index}"{timing}>{_e(utterance.text)}</span>'


def transcript_html(episode: Episode) -> str:
    """The full text the voice reads, block by block, one `<span>` per utterance with its timing."""
    script = episode.script
    spans = {s.index: s for s in episode.timeline.utterances}
    by_block: dict[int, list[Utterance]] = {}
    for u in script.utterances:
        by_block.setdefault(u.block, []).append(u)
    first_block_of_section: dict[int, int] = {}
    for block in script.blocks:
        first_block_of_section.setdefault(block.section, block.index)

    out: list[str] = []
    blocks = [b for b in script.blocks if by_block.get(b.index)]
    # Consecutive list items share one <ul>; everything else is one element per block.
    for is_list, grouped in groupby(blocks, key=lambda b: b.kind == "list_item"):
        group = list(grouped)
        items = []
        for block in group:
            anchor = ""
            if first_block_of_section.get(block.section) == block.index:
                anchor = f' id="chapitre-{block.section + 1}"'
            text = " ".join(_sentence(u, spans.get(u.index)) for u in by_block[block.index])
            if is_list:
                items.append(f"<li{anchor}>{text}</li>")
            elif block.kind == "heading":
                items.append(f'<h3 class="ae-t-heading"{anchor}>{text}</h3>')
            elif block.kind == "quote":
                items.append(f'<blockquote class="ae-t-quote"{anchor}><p>{text}</p></blockquote>')
            else:
                items.append(f'<p class="ae-t-{block.kind}"{anchor}>{text}</p>')
        out.append(f'<ul class="ae-t-list">{"".join(items)}</ul>' if is_list else "\n".join(items))
    return "\n".join(out)


def chapters_html(episode: Episode) -> str:
    titles = {s.index: s.title for s in episode.script.sections}
    items = []
    for span in episode.timeline.sections:
        title = titles.get(span.index) or span.text or f"Partie {span.index + 1}"
        items.append(
            f'<li><a href="#chapitre-{span.index + 1}"><span class="ae-chapter-time">{clock(span.start)}</span> '
            f"{_e(title)}</a></li>"
        )
    return "\n".join(items)


# --- the page -------------------------------------------------------------------------------------------------
def read_template(name: str) -> str:
    return (importlib.resources.files("audio_edition.publish") / "templates" / name).read_text(encoding="utf-8")


PAGE = Template(read_template("episode.html"))  # $names are filled in escaped (render_episode_page)


def iframe_html(src: str, title: str) -> str:
    """The iframe a host page gets (oEmbed's html too): a title for screen readers, no border, lazy, and no
    autoplay permission asked."""
    return (f'<iframe src="{_e(src)}" width="{EMBED_WIDTH}" height="{EMBED_HEIGHT}" '
            f'title="{_e("Lecteur audio : " + title)}" loading="lazy" style="border:0;max-width:100%"></iframe>')


def embed_snippet(config: Config, episode: Episode) -> str:
    """The HTML a newsroom pastes next to its article to get this episode's player (absolute URLs)."""
    files = {**DEFAULT_FILES, **episode.files}
    base = config.podcast.base_url.rstrip("/") + "/"
    folder = f"{base}episodes/{quote(episode.slug)}/"
    title = episode.script.article.title
    return (
        f'<link rel="stylesheet" href="{_e(base)}player/player.css">\n'
        f'<script src="{_e(base)}player/player.js" defer></script>\n'
        f'<div class="audio-edition" data-chapters="{_e(folder + quote(files["chapters"]))}" data-title="{_e(title)}">\n'
        f'  <audio controls preload="metadata" src="{_e(folder + quote(episode.audio_file))}">\n'
        f'    <track kind="captions" src="{_e(folder + quote(files["vtt"]))}" srclang="fr" '
        f'label="Transcription (français)">\n'
        f"  </audio>\n"
        f'  <p class="ae-noscript-links"><a href="{_e(folder)}#transcription">Lire la transcription</a></p>\n'
        f"</div>"
    )


def render_episode_page(config: Config, episode: Episode, artwork: str | None = None) -> str:
    article = episode.script.article
    files = {**DEFAULT_FILES, **episode.files}
    base = config.podcast.base_url.rstrip("/") + "/"
    page_url = safe_link(f"{base}episodes/{quote(episode.slug)}/")
    original = safe_link(article.url)
    oembed_url = safe_link(f"{base}episodes/{quote(episode.slug)}/oembed.json")
    embed_url = f"{base}episodes/{quote(episode.slug)}/embed.html"
    iframe = iframe_html(embed_url, article.title)

    meta_parts = []
    if article.byline:
        meta_parts.append(_e(article.byline))
    published = french_date(article.published)
    if published:
        meta_parts.append(f'<time datetime="{_e(article.published)}">{_e(published)}</time>')
    meta_parts.append(f"Durée\u00a0: {spoken_duration(episode.duration)}")
    if original:
        meta_parts.append(f'<a href="{_e(original)}">Lire l’article original</a>')
    meta = f'<p class="ae-meta">{" · ".join(meta_parts)}</p>\n'
    standfirst = f'<p class="ae-standfirst">{_e(article.standfirst)}</p>\n' if article.standfirst else ""
    excerpt = f'<p class="ae-excerpt" role="note" lang="fr">{_e(EXCERPT_NOTICE)}</p>\n' if article.excerpt else ""
    lang = (article.lang or "fr").split("-")[0].lower()

    chapters = chapters_html(episode)
    chapters_section = (
        '<section class="ae-chapters" aria-labelledby="chapitres-titre">\n<h2 id="chapitres-titre">Chapitres</h2>\n'
        f'<ol class="ae-chapter-list">\n{chapters}\n</ol>\n</section>\n'
    ) if chapters else ""

    file_links = []
    for key, label in (("vtt", "Transcription WebVTT"), ("srt", "Transcription SRT"),
                       ("chapters", "Chapitres (JSON, Podcasting 2.0)")):
        if files.get(key):
            file_links.append(f'<li><a href="{_href(files[key])}">{label}</a></li>\n')

    return PAGE.substitute(
        title=_e(article.title),
        description=_e(article.standfirst or f"{SYNTHETIC_LABEL}."),
        canonical=f'<link rel="canonical" href="{_e(page_url)}">\n' if page_url else "",
        oembed=(f'<link rel="alternate" type="application/json+oembed" href="{_e(oembed_url)}" '
                f'title="{_e(article.title)}">\n') if oembed_url else "",
        audio_abs=_e(f"{base}episodes/{quote(episode.slug)}/{quote(episode.audio_file)}"),
        podcast_title=_e(config.podcast.title),
        label=_e(SYNTHETIC_LABEL),
        standfirst=standfirst,
        meta=meta,
        excerpt=excerpt,
        article_lang="" if lang == "fr" else f' lang="{_e(lang)}"',
        srclang=_e(lang),
        track_label="Transcription (français)" if lang == "fr" else "Transcription",
        chapters_href=_href(files["chapters"]),
        artist=_e(article.byline or article.site_name or config.podcast.author),
        artwork=f' data-artwork="{_e(artwork)}"' if artwork else "",
        audio_href=_href(episode.audio_file),
        vtt_href=_href(files["vtt"]),
        size=file_size(episode.audio_bytes),
        duration_s=f"{episode.duration:.3f}",
        duration=spoken_duration(episode.duration),
        chapters_section=chapters_section,
        embed=_e(embed_snippet(config, episode)),
        embed_iframe=_e(iframe),
        transcript=transcript_html(episode),
        file_links="".join(file_links),
        voice=_e(episode.voice),
        engine=_e(episode.engine),
        original=f'<a href="{_e(original)}">Article original</a>.' if original else "",
    )


def write_episode_page(out_dir: Path, config: Config, episode: Episode) -> Path:
    """Write `out_dir/episodes/<slug>/index.html` (atomically) and return its path."""
    out_dir = Path(out_dir)
    path = out_dir / "episodes" / episode.slug / "index.html"
    # Lock-screen art: the episode's own square artwork, else the show's cover.
    cover = cover_file(out_dir)
    artwork = ("artwork.jpg" if (path.parent / "artwork.jpg").is_file()
               else f"../../{quote(cover)}" if cover else None)
    page = render_episode_page(config, episode, artwork)
    atomic_write_bytes(path, page.encode("utf-8"))
    log.info("episode page written: %s", path)
    return path


def install_player(out_dir: Path) -> None:
    """Copy player.js and player.css to `out_dir/player/` (atomically, only when they changed)."""
    target = Path(out_dir) / "player"
    source = importlib.resources.files("audio_edition.publish") / "player"
    for name in PLAYER_FILES:
        data = (source / name).read_bytes()
        path = target / name
        if path.is_file() and path.read_bytes() == data:
            continue
        atomic_write_bytes(path, data)

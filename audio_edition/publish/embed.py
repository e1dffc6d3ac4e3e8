"""Embeds the web's way: per episode, an embed page (`episodes/<slug>/embed.html`: the player alone, sized for an
iframe) and an oEmbed 1.0 response written as a static file (`episodes/<slug>/oembed.json`, type "rich").

The episode page carries the oEmbed discovery `<link rel="alternate" type="application/json+oembed">`, so a CMS
that speaks oEmbed (WordPress, Ghost, Drupal's oEmbed module…) turns a pasted episode URL into the player. The
iframe is `EMBED_WIDTH`×`EMBED_HEIGHT` CSS px; it never autoplays (the player does not, and the iframe asks for no
autoplay permission).
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from urllib.parse import quote, urljoin

from PIL import Image

from audio_edition.config import Config
from audio_edition.fileio import atomic_write_bytes
from audio_edition.models import Episode
from audio_edition.publish.artwork import ARTWORK_FILE
from audio_edition.publish.feed import base_url, episode_url
from audio_edition.publish.pages import (
    DEFAULT_FILES,
    EMBED_HEIGHT,
    EMBED_WIDTH,
    _e,
    _href,
    iframe_html,
    read_template,
)

EMBED_FILE = "embed.html"
OEMBED_FILE = "oembed.json"
OEMBED_CACHE_AGE = 24 * 3600

EMBED = Template(read_template("embed.html"))


def render_embed_page(config: Config, episode: Episode, artwork: str | None) -> str:
    article = episode.script.article
    files = {**DEFAULT_FILES, **episode.files}
    lang = (article.lang or "fr").split("-")[0].lower()
    return EMBED.substitute(
        title=_e(article.title),
        page_abs=_e(episode_url(base_url(config.podcast), episode.slug)),
        podcast_title=_e(config.podcast.title),
        label=_e("voix de synthèse"),
        article_lang="" if lang == "fr" else f' lang="{_e(lang)}"',
        chapters_href=_href(files["chapters"]),
        artist=_e(article.byline or article.site_name or config.podcast.author),
        duration_s=f"{episode.duration:.3f}",
        artwork=f' data-artwork="{_e(artwork)}"' if artwork else "",
        audio_href=_href(episode.audio_file),
        vtt_href=_href(files["vtt"]),
        srclang=_e(lang),
        track_label="Transcription (français)" if lang == "fr" else "Transcription",
    )


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as image:
            return image.size
    except OSError:
        return None


def oembed(out_dir: Path, config: Config, episode: Episode) -> dict:
    """The oEmbed 1.0 "rich" response for an episode (https://oembed.com/, section 2.3.4)."""
    podcast = config.podcast
    base = base_url(podcast)
    article = episode.script.article
    folder = Path(out_dir) / "episodes" / episode.slug
    response: dict = {
        "version": "1.0",
        "type": "rich",
        "title": article.title,
        "author_name": article.byline or article.site_name or podcast.author,
        "provider_name": podcast.title,
        "provider_url": base,
        "cache_age": OEMBED_CACHE_AGE,
        "html": iframe_html(episode_url(base, episode.slug, EMBED_FILE), article.title),
        "width": EMBED_WIDTH,
        "height": EMBED_HEIGHT,
    }
    if podcast.site_url:
        response["author_url"] = podcast.site_url
    thumbnail = folder / ARTWORK_FILE
    thumbnail_url = episode_url(base, episode.slug, ARTWORK_FILE)
    if not thumbnail.is_file():
        cover = next((Path(out_dir) / n for n in ("cover.jpg", "cover.png") if (Path(out_dir) / n).is_file()), None)
        thumbnail = cover if cover is not None else thumbnail
        thumbnail_url = urljoin(base, quote(thumbnail.name))
    size = _image_size(thumbnail) if thumbnail.is_file() else None
    if size:  # the three thumbnail fields come together or not at all
        response.update(thumbnail_url=thumbnail_url, thumbnail_width=size[0], thumbnail_height=size[1])
    return response


def write_embed(out_dir: Path, config: Config, episode: Episode) -> tuple[Path, Path]:
    """Write the episode's embed page and oEmbed response (each only when its bytes change)."""
    folder = Path(out_dir) / "episodes" / episode.slug
    artwork = ARTWORK_FILE if (folder / ARTWORK_FILE).is_file() else None
    if artwork is None:
        artwork = next((f"../../{n}" for n in ("cover.jpg", "cover.png") if (Path(out_dir) / n).is_file()), None)
    page = folder / EMBED_FILE
    atomic_write_bytes(page, render_embed_page(config, episode, artwork).encode("utf-8"))
    response = folder / OEMBED_FILE
    data = json.dumps(oembed(out_dir, config, episode), ensure_ascii=False, indent=2) + "\n"
    atomic_write_bytes(response, data.encode("utf-8"))
    return page, response

"""feed.json: the same episodes as feed.xml, as a JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/).

For sites and apps that would rather read JSON than RSS. Each item carries its MP3 as an attachment (MIME type,
exact byte size on disk, duration), the episode page as `url`, the article as `external_url`, and the episode's
own artwork when it has one. Like feed.xml, a pure function of the store rows and the files: no wall-clock time,
so an unchanged store gives the same bytes and the file is not rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, urljoin

from audio_edition.config import Config
from audio_edition.fileio import atomic_write_bytes
from audio_edition.publish.artwork import ARTWORK_FILE
from audio_edition.publish.feed import base_url, episode_url
from audio_edition.publish.store import StoredEpisode

JSON_FEED_NAME = "feed.json"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def _item(out_dir: Path, base: str, row: StoredEpisode, language: str) -> dict | None:
    folder = Path(out_dir) / "episodes" / row.slug
    audio = folder / (row.audio_file or "")
    if not row.audio_file or not audio.is_file():
        return None  # feed.xml leaves it out too, and says so
    summary = row.description.split("\n\n", 1)[0].strip()
    item: dict = {
        "id": row.guid,
        "url": episode_url(base, row.slug),
        "title": row.title,
        "content_text": row.description,
        "summary": summary,
        "date_published": row.published_at.isoformat(),
        "language": language,
    }
    if row.source_url and row.source_url.startswith(("http://", "https://")):
        item["external_url"] = row.source_url
    if (folder / ARTWORK_FILE).is_file():
        item["image"] = episode_url(base, row.slug, ARTWORK_FILE)
    attachment: dict = {
        "url": episode_url(base, row.slug, row.audio_file),
        "mime_type": "audio/mpeg",
        "title": row.title,
        "size_in_bytes": audio.stat().st_size,
    }
    if row.duration:
        attachment["duration_in_seconds"] = round(row.duration)
    item["attachments"] = [attachment]
    return item


def build_json_feed(out_dir: Path, config: Config, episodes: Sequence[StoredEpisode], cover_file: str | None) -> bytes:
    podcast = config.podcast
    base = base_url(podcast)
    feed: dict = {
        "version": JSON_FEED_VERSION,
        "title": podcast.title,
        "home_page_url": base,
        "feed_url": urljoin(base, JSON_FEED_NAME),
        "description": podcast.description.strip(),
    }
    if cover_file:
        feed["icon"] = urljoin(base, quote(cover_file))
    author: dict = {"name": podcast.author}
    if podcast.site_url:
        author["url"] = podcast.site_url
    feed["authors"] = [author]
    feed["language"] = podcast.language
    feed["items"] = [item for row in episodes if (item := _item(out_dir, base, row, podcast.language)) is not None]
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_json_feed(out_dir: Path, config: Config, episodes: Sequence[StoredEpisode], cover_file: str | None) -> Path:
    """Write `<out_dir>/feed.json` atomically (left alone when its bytes are the same)."""
    path = Path(out_dir) / JSON_FEED_NAME
    atomic_write_bytes(path, build_json_feed(out_dir, config, episodes, cover_file))
    return path

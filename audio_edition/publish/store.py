"""The episode store: one SQLite file, the only state of a published show.

It lives at `<out_dir>/.audio-edition/store.sqlite3` — a dot-folder, so `serve` and uploads of the output
folder skip it. Everything published (feed.xml, pages) is regenerated from it.

Each episode keeps the GUID it got the first time it was planned; a changed article gets new audio under a new
file name but keeps its GUID and slug. Rows move through three states:
`planned` (GUID and slug reserved, no audio yet) → `published` (in the feed) → `removed` (out of the feed, GUID kept).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from audio_edition.errors import AudioEditionError, InputError

log = logging.getLogger(__name__)

STORE_DIR = ".audio-edition"
STORE_NAME = "store.sqlite3"
SCHEMA_VERSION = 1

Status = Literal["planned", "published", "removed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    guid            TEXT PRIMARY KEY,
    identity        TEXT NOT NULL UNIQUE,   -- canonical URL, or "title:…" for articles without one
    slug            TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('planned', 'published', 'removed')),
    source_url      TEXT,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    published       TEXT,                   -- ISO 8601, UTC: the item's pubDate
    audio_file      TEXT,
    audio_bytes     INTEGER,
    duration        REAL,
    transcript_vtt  TEXT,
    transcript_srt  TEXT,
    chapters        TEXT,
    script_hash     TEXT,
    voice           TEXT,
    engine          TEXT,
    image           TEXT,
    episode_json    TEXT,                   -- the full Episode (script + timeline) to rebuild pages from
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS episodes_by_date ON episodes (status, published);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredEpisode:
    """One row of the store."""

    guid: str
    identity: str
    slug: str
    status: Status
    title: str
    created_at: str
    updated_at: str
    source_url: str | None = None
    description: str = ""
    published: str | None = None
    audio_file: str | None = None
    audio_bytes: int | None = None
    duration: float | None = None
    transcript_vtt: str | None = None
    transcript_srt: str | None = None
    chapters: str | None = None
    script_hash: str | None = None
    voice: str | None = None
    engine: str | None = None
    image: str | None = None
    episode_json: str | None = None

    def to_dict(self) -> dict:
        """The stable JSON form (`episodes list --json`), without the bulky episode_json."""
        data = dataclasses.asdict(self)
        del data["episode_json"]
        return data

    @property
    def published_at(self) -> datetime:
        """The pubDate as an aware datetime (first publication time when the article had no date)."""
        return datetime.fromisoformat(self.published or self.created_at)


_COLUMNS = tuple(f.name for f in dataclasses.fields(StoredEpisode))


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def published_intact(out_dir: Path, row: StoredEpisode | None) -> bool:
    """The one definition of "this article's published episode is whole on disk", used before skipping a rebuild
    and before taking a duplicate for done: the store says published, the episode's folder has an episode.json
    naming the same MP3, and that MP3 is there with the byte size the store recorded when it was published."""
    if row is None or row.status != "published" or not row.audio_file:
        return False
    folder = Path(out_dir) / "episodes" / row.slug
    try:
        named = json.loads((folder / "episode.json").read_text(encoding="utf-8")).get("audio_file")
        size = (folder / row.audio_file).stat().st_size
    except (OSError, ValueError, AttributeError):
        return False
    return named == row.audio_file and (row.audio_bytes is None or size == row.audio_bytes)


def store_path(out_dir: Path) -> Path:
    return Path(out_dir) / STORE_DIR / STORE_NAME


class EpisodeStore:
    """A connection to one output folder's store. Use as a context manager, or call close()."""

    def __init__(self, out_dir: Path, *, create: bool = True) -> None:
        self.path = store_path(out_dir)
        if not self.path.exists():
            if not create:
                raise InputError(f"no episode store in {out_dir}", "run `audio-edition build` first")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE takes the write lock up
            # front, so two builds on the same folder queue up instead of failing half way).
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._enable_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise AudioEditionError(f"cannot open the episode store {self.path}: {exc}",
                                    "restore it from a backup, or move it away to start a new show") from None

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # --- schema ------------------------------------------------------------------------------------------------
    def _enable_wal(self) -> None:
        """Switching a new database to WAL needs a moment alone with it, and SQLite answers "locked" at once
        (without the busy timeout) when a second process opens it at the same instant: wait and retry."""
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise AudioEditionError(f"the episode store {self.path} was written by a newer audio-edition "
                                    f"(schema {version}, this one knows {SCHEMA_VERSION})", "upgrade audio-edition")
        if version == SCHEMA_VERSION:
            return
        with self.transaction():
            if self._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return  # another process created the schema while we waited for the write lock
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (utc_now(),))
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: either every change inside lands, or none does."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    # --- reads -------------------------------------------------------------------------------------------------
    def _one(self, where: str, value: object) -> StoredEpisode | None:
        row = self._db.execute(f"SELECT * FROM episodes WHERE {where} = ?", (value,)).fetchone()
        return _from_row(row) if row else None

    def by_guid(self, guid: str) -> StoredEpisode | None:
        return self._one("guid", guid)

    def by_slug(self, slug: str) -> StoredEpisode | None:
        return self._one("slug", slug)

    def by_identity(self, identity: str) -> StoredEpisode | None:
        return self._one("identity", identity)

    def slug_taken(self, slug: str) -> bool:
        return self._db.execute("SELECT 1 FROM episodes WHERE slug = ?", (slug,)).fetchone() is not None

    def all(self) -> list[StoredEpisode]:
        """Every row, newest first."""
        rows = self._db.execute("SELECT * FROM episodes").fetchall()
        return sorted((_from_row(r) for r in rows), key=_newest_first)

    def published(self, window: int | None = None) -> list[StoredEpisode]:
        """The published episodes, newest first; only the newest `window` when given."""
        rows = self._db.execute("SELECT * FROM episodes WHERE status = 'published'").fetchall()
        episodes = sorted((_from_row(r) for r in rows), key=_newest_first)
        return episodes if window is None else episodes[:window]

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # --- writes ------------------------------------------------------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                         (key, value, value))

    def insert(self, episode: StoredEpisode) -> None:
        placeholders = ", ".join("?" for _ in _COLUMNS)
        self._db.execute(f"INSERT INTO episodes ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
                         [getattr(episode, c) for c in _COLUMNS])

    def update(self, episode: StoredEpisode) -> bool:
        """Write `episode` over the row with its GUID. Returns False (and writes nothing) when nothing changed,
        so that an unchanged rebuild leaves the store — and the feed — exactly as they were."""
        current = self.by_guid(episode.guid)
        if current is None:
            raise KeyError(episode.guid)
        if dataclasses.replace(current, updated_at=episode.updated_at) == episode:
            return False
        columns = [c for c in _COLUMNS if c != "guid"]
        self._db.execute(f"UPDATE episodes SET {', '.join(f'{c} = ?' for c in columns)} WHERE guid = ?",
                         [getattr(episode, c) for c in columns] + [episode.guid])
        return True

    def set_status(self, slug: str, status: Status) -> StoredEpisode:
        with self.transaction():
            current = self.by_slug(slug)
            if current is None:
                raise InputError(f"no episode with slug {slug!r}", "see `audio-edition episodes list`")
            self._db.execute("UPDATE episodes SET status = ?, updated_at = ? WHERE slug = ?",
                             (status, utc_now(), slug))
        return dataclasses.replace(current, status=status)


def _from_row(row: sqlite3.Row) -> StoredEpisode:
    return StoredEpisode(**{c: row[c] for c in _COLUMNS})


def _newest_first(episode: StoredEpisode) -> tuple:
    # Ties (same date) are broken by creation time then GUID so the order never depends on SQLite's whim.
    return (-episode.published_at.timestamp(), _negated(episode.created_at), episode.guid)


def _negated(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)

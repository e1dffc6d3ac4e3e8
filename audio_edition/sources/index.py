"""Skip reading and scripting an article file that has not changed since its episode was published.

An unchanged rebuild of a 50-episode feed should take a second or two, and extracting and scripting 50 articles
alone costs more than that. So the build keeps, next to the episode store, an index of the local article files it
built: `<out>/.audio-edition/sources.json`, path → sha256 of the file's bytes, the episode's slug and script hash,
and a *signature* of everything else that shapes the script and the audio (the whole config, the lexicon file,
the voice id and audio settings, and the package's own code and data). Same bytes + same signature = same script,
so when the store still publishes that script hash and the episode's files are intact, the file is not read again.
Anything else (a URL, stdin, a changed byte, a new version of the code) goes the normal way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError
from audio_edition.fileio import atomic_write_text, file_digest
from audio_edition.publish.store import STORE_DIR, EpisodeStore, published_intact, store_path

log = logging.getLogger(__name__)

INDEX_NAME = "sources.json"
_PACKAGE = Path(__file__).resolve().parent.parent  # the whole audio_edition package


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over this package's code and data: a new version of the normaliser or extractor invalidates the index."""
    digest = hashlib.sha256()
    for path in sorted(p for p in _PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def signature(config: Config, settings: dict, engine: str) -> str:
    """Everything besides an article's bytes that goes into its script and audio."""
    material = {"config": dataclasses.asdict(config), "settings": settings, "engine": engine,
                "lexicon": file_digest(config.resolve(config.script.lexicon)), "code": code_digest()}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _local_file(location: str) -> Path | None:
    if location == "-" or location.lower().startswith(("http://", "https://")):
        return None
    path = Path(location).expanduser()
    return path.resolve() if path.is_file() else None


class SourceIndex:
    """The index of one output folder, for one build's signature."""

    def __init__(self, out_dir: Path, build_signature: str) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / STORE_DIR / INDEX_NAME
        self.signature = build_signature
        self._digests: dict[str, str | None] = {}
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries: dict[str, dict] = entries if isinstance(entries, dict) else {}
        except (OSError, ValueError):
            self.entries = {}
        self._changed = False

    def _digest(self, path: Path) -> str | None:
        key = str(path)
        if key not in self._digests:
            self._digests[key] = file_digest(path)
        return self._digests[key]

    def unchanged(self, location: str, store: EpisodeStore | None) -> bool:
        """True when LOCATION's published episode is known to be up to date without reading it again."""
        path = _local_file(location)
        if path is None:
            return False
        digest = self._digest(path)  # read before the article is: what record() notes is never newer than it
        entry = self.entries.get(str(path))
        if store is None or entry is None or entry.get("signature") != self.signature:
            return False
        if entry.get("sha256") != digest:
            return False
        row = store.by_slug(str(entry.get("slug")))
        return row is not None and row.script_hash == entry.get("script_hash") and published_intact(self.out_dir, row)

    def record(self, location: str, slug: str, script_hash: str) -> None:
        """LOCATION (one article) is published as SLUG with SCRIPT_HASH."""
        path = _local_file(location)
        digest = self._digest(path) if path is not None else None
        if path is None or digest is None:
            return
        entry = {"sha256": digest, "signature": self.signature, "slug": slug, "script_hash": script_hash}
        if self.entries.get(str(path)) != entry:
            self.entries[str(path)] = entry
            self._changed = True

    def save(self) -> None:
        if not self._changed:
            return
        try:
            atomic_write_text(self.path, json.dumps(self.entries, ensure_ascii=False, indent=1, sort_keys=True))
        except AudioEditionError as exc:  # only a shortcut: the next build reads the articles again
            log.warning("could not save the source index: %s", exc.message)
        self._changed = False


def open_store(out_dir: Path) -> EpisodeStore | None:
    """The output folder's store for reading, or None when there is none yet."""
    if not store_path(out_dir).is_file():
        return None
    try:
        return EpisodeStore(out_dir, create=False)
    except AudioEditionError:
        return None

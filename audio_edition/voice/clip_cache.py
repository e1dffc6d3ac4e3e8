"""Content-addressed cache of synthesised clips, so a rebuild re-speaks only what changed.

Key: sha256 over the engine's voice id (which includes a hash of the voice file), the synthesis settings, the
spoken text and SPEECH_CODE_VERSION (bump it when a change to our speech code changes the audio).
Value: one file per clip — a small header (magic, sample rate, sample count, sha256 of the samples) followed by
16-bit PCM, the very samples the synthesis pool hands on (clips are int16 from synthesis on), so a cached build
and an uncached one give the same bytes. The checksum means a truncated or corrupted entry is detected, deleted and re-synthesised, never played.
Least-recently-used pruning keeps the folder under a size cap (a hit refreshes the file's mtime).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError
from audio_edition.fileio import atomic_write_bytes
from audio_edition.models import to_pcm16

_LOGGER = logging.getLogger(__name__)

SPEECH_CODE_VERSION = "1"
_MAGIC = b"AECLIP1\0"
_HEADER = struct.Struct("<8sII32s")  # magic, sample rate, samples, sha256(pcm)
DEFAULT_MAX_BYTES = 2 * 1024**3


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("audio-edition")) / "clips"


def clip_key(voice_id: str, settings: dict, spoken: str) -> str:
    """The cache key of one utterance: everything that changes its audio, and nothing else."""
    material = json.dumps(
        {"v": SPEECH_CODE_VERSION, "voice": voice_id, "settings": settings, "spoken": spoken},
        sort_keys=True, ensure_ascii=False,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheInfo:
    directory: Path
    entries: int
    total_bytes: int
    max_bytes: int


class ClipCache:
    """A folder of clips keyed by `clip_key`. Safe to share between processes: writes are temp file + rename."""

    def __init__(self, directory: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.max_bytes = max_bytes

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.clip"

    def get(self, key: str) -> tuple[np.ndarray, int] | None:
        """(int16 samples, sample rate), or None when absent or corrupted (a corrupted entry is deleted).

        The samples are a read-only view of the file's bytes: no float copy (half the memory for a long article)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            _LOGGER.warning("clip cache: cannot read %s: %s", path, exc)
            return None
        pcm = memoryview(data)[_HEADER.size:]
        try:
            magic, rate, count, digest = _HEADER.unpack_from(data)
        except struct.error:
            magic, rate, count, digest = b"", 0, -1, b""
        if magic != _MAGIC or len(pcm) != 2 * count or hashlib.sha256(pcm).digest() != digest or rate <= 0:
            _LOGGER.warning("clip cache: corrupted entry %s removed; it will be synthesised again", path.name)
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # LRU: a hit makes the entry young again
        except OSError:
            pass
        samples = np.frombuffer(data, dtype="<i2", offset=_HEADER.size).astype(np.int16, copy=False)
        return samples, rate

    def put(self, key: str, samples: np.ndarray, sample_rate: int) -> None:
        """Store int16 samples as they are; float samples in [-1, 1] are converted with `to_pcm16`."""
        pcm = to_pcm16(samples).astype("<i2", copy=False).tobytes()
        header = _HEADER.pack(_MAGIC, sample_rate, len(pcm) // 2, hashlib.sha256(pcm).digest())
        path = self._path(key)
        try:
            atomic_write_bytes(path, header + pcm)
        except AudioEditionError as exc:  # a full or read-only cache must not fail the build: the clip is in memory
            _LOGGER.warning("clip cache: %s", exc.message)

    def _entries(self) -> list[tuple[Path, os.stat_result]]:
        if not self.directory.is_dir():
            return []
        return [(p, p.stat()) for p in self.directory.glob("*/*.clip")]

    def prune(self) -> int:
        """Delete least-recently-used entries until the cache fits under max_bytes. Returns entries removed."""
        entries = sorted(self._entries(), key=lambda e: e[1].st_mtime)
        total = sum(st.st_size for _, st in entries)
        removed = 0
        for path, st in entries:
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= st.st_size
            removed += 1
        return removed

    def info(self) -> CacheInfo:
        entries = self._entries()
        return CacheInfo(self.directory, len(entries), sum(st.st_size for _, st in entries), self.max_bytes)

    def clear(self) -> int:
        entries = self._entries()
        for path, _ in entries:
            path.unlink(missing_ok=True)
        return len(entries)


def open_clip_cache(config: Config) -> ClipCache | None:
    """The clip cache the config sets ([cache]), or None when caching is off."""
    if not config.cache.enabled:
        return None
    return ClipCache(config.resolve(config.cache.directory), max_bytes=config.cache.max_mb * 1024 * 1024)

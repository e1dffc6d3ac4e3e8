"""Content-addressed cache of synthesised clips, so a rebuild re-speaks only what changed.

Key: sha256 over the engine's voice id (which includes a hash of the voice file), the synthesis settings, the
spoken text and SPEECH_CODE_VERSION (bump it when a change to our speech code changes the audio).
Value: one file per clip — a small header (magic, sample rate, sample count, sha256 of the samples) followed by
16-bit PCM, the very samples the synthesis pool hands on (clips are int16 from synthesis on), so a cached build
and an uncached one give the same bytes. The checksum means a truncated or corrupted entry is detected, deleted and re-synthesised, never played.
Least-recently-used pruning keeps the folder under a size cap (a hit refreshes the file's mtime).

Workers on several machines can share their clips through an optional tier under the local folder (`[cache]
shared = "s3://bucket/prefix/"`): a local miss is looked up there, checked like a local entry and kept locally;
a clip spoken here is written to both. So a sentence spoken on one machine is not spoken again on another. The
shared tier is a help, never a requirement: when it cannot be reached the clip is spoken, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import platformdirs

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError
from audio_edition.fileio import atomic_write_bytes
from audio_edition.models import to_pcm16
from audio_edition.objectstore import S3Location, S3Objects, parse_s3_url

_LOGGER = logging.getLogger(__name__)

SPEECH_CODE_VERSION = "1"
_MAGIC = b"AECLIP1\0"
_HEADER = struct.Struct("<8sII32s")  # magic, sample rate, samples, sha256(pcm)
DEFAULT_MAX_BYTES = 2 * 1024**3


def _samples(entry: bytes) -> tuple[np.ndarray, int]:
    rate = _HEADER.unpack_from(entry)[1]
    return np.frombuffer(entry, dtype="<i2", offset=_HEADER.size).astype(np.int16, copy=False), rate


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


def _entry_ok(data: bytes) -> bool:
    """The entry is whole: magic, a sample count matching its length, the checksum of its samples."""
    pcm = memoryview(data)[_HEADER.size:]
    try:
        magic, rate, count, digest = _HEADER.unpack_from(data)
    except struct.error:
        return False
    return magic == _MAGIC and len(pcm) == 2 * count and rate > 0 and hashlib.sha256(pcm).digest() == digest


class SharedClips(Protocol):
    """A tier of clip entries shared by several machines, by cache key (entries as the local files hold them)."""

    def read(self, key: str) -> bytes | None: ...

    def write(self, key: str, entry: bytes) -> None: ...


class S3ClipTier:
    """Clip entries in an S3-compatible bucket: `<prefix><key[:2]>/<key>.clip`, as in the local folder."""

    def __init__(self, location: S3Location, client=None) -> None:
        self.objects = S3Objects(location, client)

    @staticmethod
    def _name(key: str) -> str:
        return f"{key[:2]}/{key}.clip"

    def read(self, key: str) -> bytes | None:
        return self.objects.get(self._name(key))

    def write(self, key: str, entry: bytes) -> None:
        self.objects.put(self._name(key), entry)


class ClipCache:
    """A folder of clips keyed by `clip_key`, optionally over a shared tier. Safe to share between processes:
    writes are temp file + rename (and whole-object PUTs in the shared tier)."""

    def __init__(self, directory: Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 shared: SharedClips | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.max_bytes = max_bytes
        self.shared = shared
        self.shared_hits = 0  # entries this cache took from the shared tier

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.clip"

    def get(self, key: str) -> tuple[np.ndarray, int] | None:
        """(int16 samples, sample rate), or None when absent or corrupted (a corrupted entry is deleted).

        The samples are a read-only view of the file's bytes: no float copy (half the memory for a long article)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return self._get_shared(key)
        except OSError as exc:
            _LOGGER.warning("clip cache: cannot read %s: %s", path, exc)
            return None
        if not _entry_ok(data):
            _LOGGER.warning("clip cache: corrupted entry %s removed; it will be synthesised again", path.name)
            path.unlink(missing_ok=True)
            return self._get_shared(key)
        try:
            os.utime(path)  # LRU: a hit makes the entry young again
        except OSError:
            pass
        return _samples(data)

    def _get_shared(self, key: str) -> tuple[np.ndarray, int] | None:
        """A local miss: the shared tier's entry, checked like a local one and kept locally."""
        if self.shared is None:
            return None
        try:
            data = self.shared.read(key)
        except AudioEditionError as exc:  # the shared tier is a help: unreachable, the clip is spoken
            _LOGGER.warning("clip cache: shared tier: %s", exc.message)
            return None
        if data is None:
            return None
        if not _entry_ok(data):
            _LOGGER.warning("clip cache: corrupted shared entry %s ignored; it will be synthesised again", key)
            return None
        self.shared_hits += 1
        self._write_local(self._path(key), data)
        return _samples(data)

    def put(self, key: str, samples: np.ndarray, sample_rate: int) -> None:
        """Store int16 samples as they are; float samples in [-1, 1] are converted with `to_pcm16`."""
        pcm = to_pcm16(samples).astype("<i2", copy=False).tobytes()
        entry = _HEADER.pack(_MAGIC, sample_rate, len(pcm) // 2, hashlib.sha256(pcm).digest()) + pcm
        self._write_local(self._path(key), entry)
        if self.shared is not None:
            try:
                self.shared.write(key, entry)
            except AudioEditionError as exc:
                _LOGGER.warning("clip cache: shared tier: %s", exc.message)

    @staticmethod
    def _write_local(path: Path, entry: bytes) -> None:
        try:
            atomic_write_bytes(path, entry)
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
    shared = None
    if config.cache.shared:  # a tier in object storage under the local one: clips spoken on another machine
        shared = S3ClipTier(parse_s3_url(config.cache.shared, config.cache.shared_endpoint_url,
                                         config.cache.shared_region))
    return ClipCache(config.resolve(config.cache.directory), max_bytes=config.cache.max_mb * 1024 * 1024,
                     shared=shared)

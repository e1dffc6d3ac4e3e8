"""Which engine and voice read an article: `EngineSpec`, chosen from the config (`resolve_engine`) and per
language (`resolve_engine_for`), and the `Engine` interface every engine implements."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Protocol

import espeakng_loader
import numpy as np

from audio_edition.config import VoiceConfig
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.extract.guards import language_name
from audio_edition.fileio import atomic_write_bytes, sha256_of_file
from audio_edition.voice.catalogue import catalogue, find_voice
from audio_edition.voice.clip_cache import default_cache_dir

log = logging.getLogger(__name__)


ESPEAK_SAMPLE_RATE = 22050


# --- what to open --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineSpec:
    """Everything a worker process needs to open the same engine (picklable, hashable)."""

    engine: Literal["piper", "espeak"]
    voice: str  # Piper voice name, or the espeak voice for the espeak engine
    voice_path: str | None = None  # the .onnx (Piper only)
    config_path: str | None = None  # the .onnx.json (Piper only)
    speaker: int | None = None
    length_scale: float | None = None  # None: the voice's own default
    noise_scale: float | None = None
    noise_w_scale: float | None = None
    espeak_voice: str = "fr"
    espeak_rate: int = 165  # words per minute
    fallback_reason: str | None = None  # set when espeak was chosen because no Piper voice was found
    language: str = "fr"  # the language of the articles it reads (content guards: `--lang`)


def resolve_engine(config: VoiceConfig) -> EngineSpec:
    """Choose the engine: an explicit one is honoured; else Piper if the voice is found, else espeak, loudly."""
    espeak = EngineSpec(engine="espeak", voice=config.espeak_voice, espeak_voice=config.espeak_voice,
                        espeak_rate=config.espeak_rate)
    if config.engine == "espeak":
        return espeak
    if config.engine not in (None, "piper"):
        raise InputError(f"unknown engine {config.engine!r}", "use piper or espeak")
    try:
        files = find_voice(config.voice)
    except InputError as exc:
        if config.engine == "piper":
            raise
        wanted = config.voice if config.voice in catalogue() else "fr_FR-siwis-medium"
        reason = (f"{exc.message}. Falling back to espeak-ng, which sounds robotic: "
                  f"install a Piper voice with `audio-edition voices download {wanted}`")
        log.info("%s", reason)  # the build prints it loudly; a second copy on stderr would be noise
        return dataclasses.replace(espeak, fallback_reason=reason)
    return EngineSpec(
        engine="piper", voice=files.name, voice_path=str(files.onnx), config_path=str(files.config),
        speaker=config.speaker, length_scale=config.length_scale, noise_scale=config.noise_scale,
        noise_w_scale=config.noise_w_scale, espeak_voice=config.espeak_voice, espeak_rate=config.espeak_rate,
    )


def piper_voice_language(config_path: str | Path) -> str | None:
    """The primary language a Piper voice speaks, from its .onnx.json (language.code, else espeak.voice)."""
    try:
        data = json.loads(Path(config_path).read_text(encoding="utf-8"))
        code = (data.get("language") or {}).get("code") or (data.get("espeak") or {}).get("voice")
    except (OSError, ValueError, AttributeError):
        return None
    return re.split(r"[-_]", code, maxsplit=1)[0].lower() if isinstance(code, str) and code else None


def espeak_has_voice(name: str) -> bool:
    """True when the espeak-ng data of the wheel has a voice (a language) of this name."""
    root = Path(espeakng_loader.get_data_path()) / "lang"
    return any(path.name.lower() == name.lower() for path in root.rglob("*") if path.is_file())


def resolve_engine_for(config: VoiceConfig, language: str, base: EngineSpec | None = None) -> EngineSpec:
    """The engine that reads articles in LANGUAGE: for French, `resolve_engine`'s; for another language, the
    Piper voice of [voice.by_language], else the main Piper voice when it speaks that language, else espeak-ng's
    voice of that language when espeak is the engine. None of them: a one-line InputError naming what to set."""
    base = base or resolve_engine(config)
    if language == "fr":
        return base
    name = language_name(language)
    if base.engine == "espeak":
        if not espeak_has_voice(language):
            raise InputError(f"espeak-ng has no {name} ({language}) voice", "configure a Piper voice in "
                             f"[voice.by_language] {language} = \"NAME\"")
        return dataclasses.replace(base, voice=language, espeak_voice=language, language=language)
    wanted = config.by_language.get(language)
    if wanted:
        files = find_voice_files(wanted)
        spoken = piper_voice_language(files.config)
        if spoken is not None and spoken != language:
            raise InputError(f"voice {files.name} speaks {language_name(spoken)} ({spoken}), not {name}",
                             f"fix [voice.by_language] {language} in the config")
        return dataclasses.replace(base, voice=files.name, voice_path=str(files.onnx), config_path=str(files.config),
                                   speaker=None, language=language)
    if base.config_path and piper_voice_language(base.config_path) == language:
        return dataclasses.replace(base, language=language)
    raise InputError(f"no {name} voice configured: {base.voice} reads French",
                     f"set [voice.by_language] {language} = \"NAME\" (a {name} Piper voice: audio-edition voices "
                     f"list), pass --voice with a {name} voice, or build with --engine espeak")


def find_voice_files(name: str):
    return find_voice(name)


class Engine(Protocol):
    name: str  # "piper" | "espeak"
    # True: one engine may be shared by several threads that call `synthesize` at once and really run in
    # parallel. False: the pool runs one engine per worker process instead.
    parallel_threads: ClassVar[bool]
    sample_rate: int

    @property
    def voice_id(self) -> str:
        """Stable: changes when the voice file or the synthesis settings change (a part of the cache key)."""
        ...

    def synthesize(self, spoken: str) -> np.ndarray:
        """Mono float32 samples in [-1, 1]; empty text gives an empty array."""
        ...

    def cost(self, spoken: str) -> int:
        """How much work (and memory) speaking SPOKEN takes, in the engine's own units: the longest go first."""
        ...


@dataclass(frozen=True)
class EngineInfo:
    """What a build needs to know about an engine before (or without) opening it."""

    name: str
    sample_rate: int
    voice_id: str


_DIGESTS: dict[tuple[str, int, int], str] = {}
# A voice's sha256 (its identity for the clip cache and the kept voice parts) takes ~50 ms to compute for a medium
# voice, on the way to the first sentence of every build: files this large are remembered on disk, by path, size,
# modification and change times and inode (a file rewritten in place gets a new change time, which no tool sets).
_REMEMBERED_FROM_BYTES = 1 << 20
_REMEMBERED_FILES = 64


def cached_file_digest(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so a build hashes a 60 MB voice once, and for a large
    file across runs (`remembered_digests_path`)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = _remembered_digest(path, st) if st.st_size >= _REMEMBERED_FROM_BYTES else sha256_of_file(path)
    return _DIGESTS[key]


def remembered_digests_path() -> Path:
    """Where the digests of large files are remembered (next to the clip cache; `cache clear` removes it)."""
    return default_cache_dir().parent / "file-digests.json"


def _remembered_digest(path: Path, st: os.stat_result) -> str:
    """The digest remembered for this very file, or computed and remembered (the oldest entries forgotten). Only
    a shortcut: a memo that cannot be read or written is ignored."""
    memo_path = remembered_digests_path()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    memo = memo if isinstance(memo, dict) else {}
    known = memo.get(key)
    if isinstance(known, str) and re.fullmatch(r"[0-9a-f]{64}", known):
        return known
    digest = sha256_of_file(path)
    memo[key] = digest
    for stale in list(memo)[:max(0, len(memo) - _REMEMBERED_FILES)]:
        del memo[stale]
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(memo_path, json.dumps(memo).encode("utf-8"))
    except (OSError, AudioEditionError) as exc:
        log.debug("cannot remember the digest of %s: %s", path, exc)
    return digest

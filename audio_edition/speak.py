"""Speech engines behind one interface, and parallel synthesis of a script's utterances.

- `PiperEngine`: piper-tts `PiperVoice` on an onnxruntime session we build ourselves with one thread
  (`intra_op_num_threads=1`, `inter_op_num_threads=1`): parallelism comes from several threads calling the same
  session at once (onnxruntime's `run` is thread-safe and releases the GIL), and Piper's default session would
  use every core per call and oversubscribe the machine. Once the process has grown past ARENA_SHRINK_ABOVE_BYTES,
  calls run with the arena shrinkage run option, so the memory long utterances needed goes back instead of
  staying (and fragmenting) in the arena. Only espeak-ng's phonemizer (one global state per process) is serialised, under `_PHONEMIZE_LOCK`.
  A VITS voice is cut into its encoder and its HiFi-GAN decoder (`voice_graph`), the decoder run window by
  window on 2-D convolutions (`SplitSession`: same samples, a run's memory bounded, faster); the cut is kept in
  the user cache dir (`voice-parts/`). A voice that cannot be cut runs whole.
- `EspeakEngine`: espeak-ng from the `espeakng-loader` wheel (its libespeak-ng.so and data, through ctypes):
  the offline fallback, robotic but always there. Never chosen silently: `resolve_engine` sets
  `fallback_reason`, logs a WARNING, and the build prints it.
- `synthesize_clips` / `SynthesisPool`: utterances in, `Clip`s (16-bit PCM) out in the same order. An engine
  whose class says `parallel_threads = True` (Piper) is opened once in this process and shared by a thread pool:
  one model in memory instead of one per worker (a medium voice's process was ~150 MB before it spoke and grew
  ~22 MB per second of audio of its utterance), one arena shared, and no process start-up. The threads take
  the longest texts first; for a voice run whole, what runs at once also stays under a memory budget weighted
  by phonemes (`_SharedWork`). espeak-ng synthesises under one global lock, so threads would take turns: it keeps a pool of spawned
  worker processes, each opening the engine once for every task (and every article of a build).
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Literal, Protocol, Sequence

import numpy as np

from .cache import ClipCache, clip_key
from .config import VoiceConfig
from .errors import AudioEditionError, InputError
from .models import Clip, Utterance, to_pcm16

if TYPE_CHECKING:
    from .voice_graph import DecoderLayout

log = logging.getLogger(__name__)

ESPEAK_SAMPLE_RATE = 22050
_PHONEME_BLOCK = re.compile(r"\[\[.*?\]\]")


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
    from .voices import catalogue, find_voice

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
    import espeakng_loader

    root = Path(espeakng_loader.get_data_path()) / "lang"
    return any(path.name.lower() == name.lower() for path in root.rglob("*") if path.is_file())


def resolve_engine_for(config: VoiceConfig, language: str, base: EngineSpec | None = None) -> EngineSpec:
    """The engine that reads articles in LANGUAGE: for French, `resolve_engine`'s; for another language, the
    Piper voice of [voice.by_language], else the main Piper voice when it speaks that language, else espeak-ng's
    voice of that language when espeak is the engine. None of them: a one-line InputError naming what to set."""
    from .extract.guards import language_name

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
    from .voices import find_voice

    return find_voice(name)


class Engine(Protocol):
    name: str  # "piper" | "espeak"
    # True: one engine may be shared by several threads that call `synthesize` at once and really run in
    # parallel. False: the pool runs one engine per worker process instead.
    parallel_threads: ClassVar[bool]
    voice_id: str  # stable: changes when the voice file or the synthesis settings change (cache key part)
    sample_rate: int

    def synthesize(self, spoken: str) -> np.ndarray:
        """Mono float32 samples in [-1, 1]; empty text gives an empty array."""
        ...


@dataclass(frozen=True)
class EngineInfo:
    """What a build needs to know about an engine before (or without) opening it."""

    name: str
    sample_rate: int
    voice_id: str


def describe_engine(spec: EngineSpec) -> EngineInfo:
    """Sample rate and voice id from the voice's files alone: no ONNX session, so a rebuild where every sentence
    is cached (or every article unchanged) never pays for loading the model."""
    if spec.engine == "piper":
        config = _read_piper_config(spec)
        return EngineInfo("piper", int(config.sample_rate), _piper_voice_id(spec))
    if spec.engine == "espeak":
        return EngineInfo("espeak", ESPEAK_SAMPLE_RATE, _espeak_voice_id(spec))
    raise InputError(f"unknown engine {spec.engine!r}", "use piper or espeak")


def engine_class(spec: EngineSpec) -> type:
    """The class `open_engine` would use, to read its class attributes without loading anything."""
    if spec.engine == "piper":
        return PiperEngine
    if spec.engine == "espeak":
        return EspeakEngine
    raise InputError(f"unknown engine {spec.engine!r}", "use piper or espeak")


def open_engine(spec: EngineSpec) -> Engine:
    return engine_class(spec)(spec)


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) so a build hashes a 60 MB voice once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


# --- Piper ---------------------------------------------------------------------------------------------------
def make_session(model_path: Path, *, optimize: bool = True, model_bytes: bytes | None = None,
                 save_optimized: Path | None = None):
    """A single-threaded CPU onnxruntime session (parallelism comes from several threads calling it at once), on
    the file or, when given, on `model_bytes` (a part of it: voice_graph). With `save_optimized`, the graph is
    written there after onnxruntime's hardware-independent optimisations (level "extended": the layout ones
    depend on the CPU), so that a later session opens from it without redoing them."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if not optimize:  # only to check the model loads: 3x faster to open, never used to synthesise
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    if save_optimized is not None:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(save_optimized)
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: no graph-optimizer chatter on stderr
    try:
        return onnxruntime.InferenceSession(model_bytes if model_bytes is not None else str(model_path),
                                            sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"voice model {model_path} cannot be loaded (corrupt or not an ONNX model): "
                         f"{first_line[:200]}", "download it again: audio-edition voices download NAME") from None


def _read_piper_config(spec: EngineSpec):
    """The voice's .onnx.json as piper's PiperConfig; InputError in one line when it is missing or not one."""
    from piper.config import PiperConfig

    if not spec.voice_path or not spec.config_path:
        raise InputError("the Piper engine needs a voice (.onnx + .onnx.json)")
    config_path = Path(spec.config_path)
    try:
        config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"voice config not found: {config_path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"voice config {config_path} is not valid JSON: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"voice config {config_path} is not a Piper voice config "
                         f"(missing or bad {exc})") from None
    if config.phoneme_type.value != "espeak":
        raise InputError(f"voice {spec.voice_path} uses {config.phoneme_type.value} phonemes, "
                         "not espeak: it is not a French voice")
    return config


def _piper_voice_id(spec: EngineSpec) -> str:
    """Voice name + hash of the model and config + the settings that change the audio."""
    try:
        files = _file_digest(Path(spec.voice_path or "")) + _file_digest(Path(spec.config_path or ""))
    except OSError as exc:
        raise InputError(f"cannot read voice {spec.voice_path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(files.encode()).hexdigest()[:16]
    return (f"piper:{spec.voice}:{digest}:spk={spec.speaker}:len={spec.length_scale}:"
            f"noise={spec.noise_scale}:noisew={spec.noise_w_scale}")


def check_voice(spec: EngineSpec) -> None:
    """Refuse a corrupt voice, or a config that does not match its model, before the build writes anything (the
    workers open the voice only later, after the output folder is locked). Costs one unoptimised model load
    (~0.1 s for a medium voice)."""
    if spec.engine != "piper":
        return
    model = Path(spec.voice_path or "")
    try:
        st = model.stat()
        checked = (spec, st.st_size, st.st_mtime_ns)
    except OSError:
        checked = None
    if checked is not None and checked in _CHECKED_VOICES:  # the build checked it, the pool need not again
        return
    # A voice whose exact bytes (and settings) loaded before with this onnxruntime needs no second look: a rebuild
    # with nothing to speak then never touches the model (its content hash is computed for the cache key anyway).
    marker = _verified_marker(spec)
    if marker is not None and marker.is_file():
        if checked is not None:
            _CHECKED_VOICES.add(checked)
        return
    from types import SimpleNamespace

    config = _read_piper_config(spec)
    paths = SimpleNamespace(model_path=Path(spec.voice_path or ""), config_path=Path(spec.config_path or ""))
    PiperEngine._check_matches(paths, make_session(paths.model_path, optimize=False), config)  # type: ignore[arg-type]
    if spec.speaker is not None and not 0 <= spec.speaker < max(config.num_speakers, 1):
        raise InputError(f"speaker {spec.speaker} out of range: voice {spec.voice} has "
                         f"{config.num_speakers} speaker(s) (0 to {max(config.num_speakers, 1) - 1})")
    if checked is not None:
        _CHECKED_VOICES.add(checked)
    if marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:  # only a shortcut for next time
            pass


def _verified_marker(spec: EngineSpec) -> Path | None:
    """Where we note that this exact voice (content hash, settings) loaded fine with this onnxruntime and piper."""
    from importlib.metadata import PackageNotFoundError, version

    from .cache import default_cache_dir

    try:
        runtime = f"{version('onnxruntime')}:{version('piper-tts')}"
        key = hashlib.sha256(f"{_piper_voice_id(spec)}:{runtime}".encode()).hexdigest()
    except (InputError, PackageNotFoundError):
        return None
    return default_cache_dir().parent / "verified-voices" / key


_CHECKED_VOICES: set[tuple[EngineSpec, int, int]] = set()

# Piper's phonemizer is espeak-ng (statically linked in piper's espeakbridge): one global state per process, so
# only one thread may phonemize at a time. Inference, the expensive part, runs outside this lock.
_PHONEMIZE_LOCK = threading.Lock()
ARENA_SHRINKAGE = ("memory.enable_memory_arena_shrinkage", "cpu:0")
# Past this resident size, a run gives the arena's free blocks back. Shrinking after every run costs 13-15 % of
# synthesis time (the next run maps and faults those pages in again); never shrinking lets the arena fragment and
# grow (measured: 1.25 GB after the 194 utterances of a 33-minute article, two threads). Above the size that two
# concurrent runs need, shrinking only when it has grown keeps both: the speed, and a bounded footprint.
ARENA_SHRINK_ABOVE_BYTES = 640 * 2**20


def resident_bytes() -> int | None:
    """This process's resident set size now (Linux), or None where /proc is not there."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class ShrinkingSession:
    """The onnxruntime session as PiperVoice sees it: `run` adds our RunOptions (arena shrinkage) when the process
    has grown past ARENA_SHRINK_ABOVE_BYTES (always where its size cannot be read); everything else
    (`get_inputs`, `get_session_options`, ...) is the real session's.

    Why a proxy: `PiperVoice.phoneme_ids_to_audio` calls `session.run(None, feeds)` with no run options."""

    def __init__(self, session) -> None:
        import onnxruntime

        self.session = session
        self.run_options = onnxruntime.RunOptions()
        self.run_options.add_run_config_entry(*ARENA_SHRINKAGE)
        self.shrinks = 0  # runs that gave memory back

    def run(self, output_names, input_feed, run_options=None):
        if run_options is None and self._should_shrink():
            self.shrinks += 1
            run_options = self.run_options  # only read by `run`: one instance is safe to share between threads
        return self.session.run(output_names, input_feed, run_options)

    def _should_shrink(self) -> bool:
        size = resident_bytes()
        return size is None or size > ARENA_SHRINK_ABOVE_BYTES

    def __getattr__(self, name: str):
        return getattr(self.session, name)


class SplitSession:
    """What PiperVoice runs when the voice could be cut in two (voice_graph): `run` is the encoder, then the
    decoder window by window; both shrink their arena like ShrinkingSession. Inputs, options, ... are the
    encoder's (it has all of the voice's inputs)."""

    def __init__(self, encoder, decoder, layout: "DecoderLayout") -> None:
        self.encoder, self.decoder, self.layout = ShrinkingSession(encoder), ShrinkingSession(decoder), layout

    def run(self, output_names, input_feed, run_options=None):
        from .voice_graph import decode_in_windows

        latent = self.encoder.run(None, input_feed, run_options)[0]
        name = self.layout.latent_name
        return [decode_in_windows(lambda frames: self.decoder.run(None, {name: frames}, run_options)[0],
                                  latent, self.layout)]

    @property
    def shrinks(self) -> int:
        return self.encoder.shrinks + self.decoder.shrinks

    def __getattr__(self, name: str):
        return getattr(self.encoder.session, name)


# Bump when voice_graph cuts a voice differently: parts cut by an older version are then not used.
VOICE_PARTS_VERSION = 2


def voice_parts_root() -> Path:
    """Where cut voices are kept (next to the default clip cache; `cache info` / `cache clear` show and empty it)."""
    from .cache import default_cache_dir

    return default_cache_dir().parent / "voice-parts"


def voice_parts_usage() -> tuple[int, int]:
    """(voices kept, bytes)."""
    root = voice_parts_root()
    kept = [folder for folder in root.iterdir() if folder.is_dir()] if root.is_dir() else []
    return len(kept), sum(f.stat().st_size for folder in kept for f in folder.iterdir() if f.is_file())


def clear_voice_parts() -> int:
    """Delete every kept cut (the next build cuts its voice again). Returns how many voices were removed."""
    import shutil

    count, _ = voice_parts_usage()
    shutil.rmtree(voice_parts_root(), ignore_errors=True)
    return count


def _voice_parts_dir(model_path: Path) -> Path | None:
    """Where the cut of this exact voice file is kept: keyed by its content, our cut's version and onnx's."""
    from importlib.metadata import PackageNotFoundError, version

    try:  # the kept encoder is onnxruntime's optimised graph: only for the same onnxruntime
        material = f"{_file_digest(model_path)}:{VOICE_PARTS_VERSION}:{version('onnx')}:{version('onnxruntime')}"
    except (OSError, PackageNotFoundError):
        return None
    return voice_parts_root() / hashlib.sha256(material.encode()).hexdigest()[:32]


def _open_piper_session(model_path: Path):
    """The session PiperVoice will run: the voice cut in two when it can be (bounded memory per run, faster
    decoder: voice_graph), else the whole model. The cut is kept on disk: cutting reads the whole graph in
    Python (~0.7 s and ~250 MB for a medium voice), loading the kept parts costs neither, and the encoder is kept
    as onnxruntime optimised it (a medium voice's encoder then opens in 0.25 s instead of 1.2 s)."""
    from .voice_graph import NotSplittable, split_voice

    parts = _voice_parts_dir(model_path)
    session = _open_kept_parts(parts, model_path)
    if session is not None:
        return session
    try:
        split = split_voice(model_path.read_bytes())
    except NotSplittable as exc:
        log.info("voice %s is run whole (%s)", model_path.name, exc)
        _keep_parts(parts, {"whole": str(exc)})
    except Exception as exc:  # unreadable or not ONNX: make_session says so in one line
        log.debug("voice %s cannot be split: %s", model_path.name, exc)
    else:
        # Opened from what was just kept: onnxruntime optimised the encoder once, to write it, and the first
        # build runs the same graphs as every later one.
        if _keep_parts(parts, {"layout": dataclasses.asdict(split.layout)}, {"decoder.onnx": split.decoder},
                       optimized_encoder=(model_path, split.encoder)):
            session = _open_kept_parts(parts, model_path)
            if session is not None:
                return session
        return SplitSession(make_session(model_path, model_bytes=split.encoder),
                            make_session(model_path, model_bytes=split.decoder), split.layout)
    return ShrinkingSession(make_session(model_path))


def _open_kept_parts(parts: Path | None, model_path: Path):
    """The session from parts cut before, or None (none kept, or unusable: then they are removed)."""
    import shutil

    from .voice_graph import DecoderLayout

    if parts is None or not (parts / "layout.json").is_file():
        return None
    try:
        kept = json.loads((parts / "layout.json").read_text(encoding="utf-8"))
        if "whole" not in kept:
            return SplitSession(make_session(parts / "encoder.onnx"), make_session(parts / "decoder.onnx"),
                                DecoderLayout(**kept["layout"]))
    except (OSError, ValueError, KeyError, TypeError, InputError) as exc:
        log.warning("kept parts of voice %s are unusable (%s): cutting it again", model_path.name, exc)
        shutil.rmtree(parts, ignore_errors=True)
        return None
    # Kept as "run whole": outside the try, so that a voice that cannot load says so instead of being cut again.
    return ShrinkingSession(make_session(model_path))


def _keep_parts(parts: Path | None, description: dict, files: dict[str, bytes] | None = None,
                optimized_encoder: tuple[Path, bytes] | None = None) -> bool:
    """Write the parts (the encoder as onnxruntime optimises it), then layout.json last, each file written whole
    then renamed: a kept layout.json means complete parts. Only a shortcut: a cache that cannot be written is
    skipped (False)."""
    from .fileio import atomic_write_bytes

    if parts is None:
        return False
    try:
        parts.mkdir(parents=True, exist_ok=True)
        for name, data in (files or {}).items():
            atomic_write_bytes(parts / name, data)
        if optimized_encoder is not None:
            partial = parts / f".encoder.onnx.{os.getpid()}.tmp"
            try:
                make_session(optimized_encoder[0], model_bytes=optimized_encoder[1], save_optimized=partial)
                os.replace(partial, parts / "encoder.onnx")
            finally:
                partial.unlink(missing_ok=True)
        atomic_write_bytes(parts / "layout.json", json.dumps(description).encode("utf-8"))
    except (OSError, AudioEditionError) as exc:
        log.debug("cannot keep the voice's parts in %s: %s", parts, exc)
        return False
    return True


class PiperEngine:
    """A Piper voice on one single-threaded session; `synthesize` may be called from several threads at once."""

    name = "piper"
    parallel_threads = True

    def __init__(self, spec: EngineSpec) -> None:
        from piper import PiperVoice, SynthesisConfig

        self.model_path = Path(spec.voice_path or "")
        self.config_path = Path(spec.config_path or "")
        config = _read_piper_config(spec)
        if not config.espeak_voice.lower().startswith(spec.language):
            log.warning("voice %s is a %r voice, not %s: the text will sound foreign",
                        self.model_path.name, config.espeak_voice, spec.language)

        session = _open_piper_session(self.model_path)
        self._check_matches(session, config)
        if spec.speaker is not None and not 0 <= spec.speaker < max(config.num_speakers, 1):
            raise InputError(f"speaker {spec.speaker} out of range: voice {spec.voice} has "
                             f"{config.num_speakers} speaker(s) (0 to {max(config.num_speakers, 1) - 1})")

        self.voice = PiperVoice(session=session, config=config)
        # A split voice's runs no longer grow with the sentence past one decoder window: no memory gate needed.
        self.bounded_runs = isinstance(session, SplitSession)
        self._phonemized: dict[str, list[list[str]]] = {}  # text -> phonemes, from `cost` until `synthesize`
        self.sample_rate = int(config.sample_rate)
        self.spec = spec
        # normalize_audio off: Piper would peak-normalise every sentence; loudness is set on the whole episode.
        self.synthesis_config = SynthesisConfig(
            speaker_id=spec.speaker, length_scale=spec.length_scale, noise_scale=spec.noise_scale,
            noise_w_scale=spec.noise_w_scale, normalize_audio=False,
        )

    def _check_matches(self, session, config) -> None:
        """The config must describe this model: same inputs, speakers and phoneme table size."""
        inputs = {i.name for i in session.get_inputs()}
        missing = {"input", "input_lengths", "scales"} - inputs
        if missing:
            raise InputError(f"voice model {self.model_path} is not a Piper voice (no input {sorted(missing)[0]!r})")
        if config.num_speakers > 1 and "sid" not in inputs:
            raise InputError(f"voice config {self.config_path} does not match {self.model_path.name}: it says "
                             f"{config.num_speakers} speakers but the model has a single speaker")
        if config.num_speakers <= 1 and "sid" in inputs:
            raise InputError(f"voice config {self.config_path} does not match {self.model_path.name}: the model "
                             "is multi-speaker but the config says 1 speaker")
        ids = [i for values in config.phoneme_id_map.values() for i in values]
        if ids and max(ids) >= config.num_symbols:
            raise InputError(f"voice config {self.config_path} is inconsistent: phoneme id {max(ids)} "
                             f">= num_symbols {config.num_symbols}")

    @property
    def voice_id(self) -> str:
        return _piper_voice_id(self.spec)

    def cost(self, spoken: str) -> int:
        """How much the text will weigh on memory when spoken: its phonemes (an onnxruntime run's memory grows
        with the audio, that is with the phonemes, not the characters: a spelled-out figure is short to write and
        long to say). The phonemes are kept for `synthesize`."""
        with _PHONEMIZE_LOCK:
            sentences = self._phonemized.get(spoken)
            if sentences is None:
                sentences = self._phonemized[spoken] = self.voice.phonemize(spoken)
        return sum(len(phonemes) for phonemes in sentences)

    def synthesize(self, spoken: str) -> np.ndarray:
        """Mono float32 in [-1, 1]: what `PiperVoice.synthesize` gives sentence by sentence, joined (not used
        itself because it phonemizes inside: we phonemize under the lock and infer outside it)."""
        if not spoken or not spoken.strip():
            return np.zeros(0, dtype=np.float32)
        try:
            with _PHONEMIZE_LOCK:
                sentences = self._phonemized.pop(spoken, None) or self.voice.phonemize(spoken)
            chunks = []
            for phonemes in sentences:
                if not phonemes:
                    continue
                audio = self.voice.phoneme_ids_to_audio(self.voice.phonemes_to_ids(phonemes), self.synthesis_config)
                if self.synthesis_config.volume != 1.0:
                    audio = audio * self.synthesis_config.volume
                chunks.append(np.clip(audio, -1.0, 1.0).astype(np.float32))
        except InputError:
            raise
        except Exception as exc:
            raise AudioEditionError(f"Piper failed on voice {self.model_path}: {type(exc).__name__}: "
                                    f"{str(exc).strip()[:200]}", "check that the .onnx.json matches the model") from None
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks)


# --- espeak-ng -----------------------------------------------------------------------------------------------
_ESPEAK_LOCK = threading.Lock()  # espeak-ng is one global synthesiser per process
_ESPEAK_LIB = None
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE = 1
_ESPEAK_CHARS_UTF8 = 1
_POS_CHARACTER = 1


class EspeakEngine:
    """espeak-ng through the espeakng-loader wheel (libespeak-ng.so + espeak-ng-data): no apt, no subprocess."""

    name = "espeak"
    parallel_threads = False  # one global synthesiser per process (`_ESPEAK_LOCK`): threads would take turns

    def __init__(self, spec: EngineSpec) -> None:
        global _ESPEAK_LIB
        self.spec = spec
        self.sample_rate = ESPEAK_SAMPLE_RATE
        self.voice_id = _espeak_voice_id(spec)
        self._samples: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # kept referenced: espeak calls it from C
        with _ESPEAK_LOCK:
            if _ESPEAK_LIB is None:
                _ESPEAK_LIB = _load_espeak()
            self._lib = _ESPEAK_LIB

    def _on_audio(self, wav, count, _events) -> int:
        if wav and count > 0:
            self._samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0 = go on

    def synthesize(self, spoken: str) -> np.ndarray:
        # [[...]] are Piper (IPA) phonemes from the lexicon: espeak cannot read them, so they are left out.
        text = _PHONEME_BLOCK.sub(" ", spoken or "")
        if text != (spoken or ""):
            log.warning("espeak engine skips [[phoneme]] blocks (Piper-only): %r", spoken[:80])
        if not text.strip():
            return np.zeros(0, dtype=np.float32)
        data = text.encode("utf-8") + b"\0"
        with _ESPEAK_LOCK:
            lib = self._lib
            lib.espeak_SetSynthCallback(self._callback)
            if lib.espeak_SetVoiceByName(self.spec.espeak_voice.encode()) != 0:
                raise InputError(f"espeak-ng has no voice {self.spec.espeak_voice!r}", "use espeak_voice = \"fr\"")
            lib.espeak_SetParameter(_ESPEAK_RATE, int(self.spec.espeak_rate), 0)
            self._samples = []
            status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
            if status != 0:
                raise AudioEditionError(f"espeak-ng failed to synthesise (status {status})")
            lib.espeak_Synchronize()
            pcm = np.concatenate(self._samples) if self._samples else np.zeros(0, dtype=np.int16)
            self._samples = []
        return (pcm.astype(np.float32) / 32768.0).clip(-1.0, 1.0)


def _load_espeak():
    import espeakng_loader

    try:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
    except OSError as exc:
        raise AudioEditionError(f"cannot load espeak-ng from the espeakng-loader wheel: {exc}",
                                "reinstall: pip install --force-reinstall espeakng-loader") from None
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    # espeak_Initialize wants the folder that *contains* espeak-ng-data
    data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, 0)
    if rate <= 0:
        raise AudioEditionError(f"espeak-ng failed to initialise with data in {data_parent.decode()}")
    if rate != ESPEAK_SAMPLE_RATE:
        raise AudioEditionError(f"espeak-ng runs at {rate} Hz, expected {ESPEAK_SAMPLE_RATE}")
    return lib


def _espeak_voice_id(spec: EngineSpec) -> str:
    return f"espeak:{spec.espeak_voice}:rate={spec.espeak_rate}:{_espeak_version()}"


def _espeak_version() -> str:
    try:
        from importlib.metadata import version

        return f"loader{version('espeakng-loader')}"
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "loader?"


# --- parallel synthesis --------------------------------------------------------------------------------------
_WORKER_ENGINE: Engine | None = None
_WORKER_ERROR: tuple[str, str, str | None] | None = None


def _error_value(exc: AudioEditionError) -> tuple[str, str, str | None]:
    return type(exc).__name__, exc.message, exc.hint


def _init_worker(spec: EngineSpec) -> None:
    # An exception here would break the pool with an unreadable error: keep it, every task returns it.
    global _WORKER_ENGINE, _WORKER_ERROR
    try:
        _WORKER_ENGINE = open_engine(spec)
    except AudioEditionError as exc:
        _WORKER_ERROR = _error_value(exc)


def _timed_pcm16(engine: Engine, spoken: str) -> tuple[np.ndarray, float]:
    """The engine's audio as 16-bit PCM (what the cache stores and the Clip carries), and the seconds the engine
    took. Converted where it was synthesised: half the bytes to hold, and to pickle back from a worker process."""
    started = time.perf_counter()
    samples = engine.synthesize(spoken)
    seconds = time.perf_counter() - started
    return to_pcm16(samples), seconds


_LIBC = None


def _glibc():
    """glibc through ctypes, or None elsewhere (musl, macOS): only used to hand freed memory back to the system."""
    global _LIBC
    if _LIBC is None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            _LIBC = libc
        except (OSError, AttributeError):
            _LIBC = False
    return _LIBC or None


def _map_large_blocks() -> None:
    """Blocks of 1 MB and more come straight from the system and go straight back when freed. glibc's default
    raises that threshold to 32 MB as soon as one large block is freed, after which the arena's freed blocks and
    the assembly's arrays stay in the heap, counted in the process's size, until the process ends."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD (fixed: no more dynamic raising)


def _give_back_freed_memory() -> None:
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class _SharedWork:
    """The utterances waiting for the synthesis threads, handed out so that what is being spoken at the same
    moment never weighs more than a budget (a run's memory grows with its audio: ~330 MB for a 17-second
    sentence on a medium voice; weight = phonemes, see PiperEngine.cost): at most (threads + 1) / 2 times the
    heaviest. A thread takes the heaviest waiting text that fits — a long one pairs with a shorter one, and the
    run ends on short texts, so the threads finish together. Order does not matter: each result says where it
    goes."""

    def __init__(self, items: list[tuple[int, str, int]], threads: int, bounded_runs: bool = False) -> None:
        # bounded_runs: the engine's memory per run stops growing past some length (a split Piper voice)
        self.budget = math.inf if bounded_runs else max(cost for _, _, cost in items) * (threads + 1) / 2
        self.waiting = sorted(items, key=lambda item: -item[2])
        self.in_flight = 0
        self.changed = threading.Condition()

    def take(self) -> tuple[int, str, int]:
        with self.changed:
            while True:
                for n, item in enumerate(self.waiting):
                    if self.in_flight == 0 or self.in_flight + item[2] <= self.budget:
                        del self.waiting[n]
                        self.in_flight += item[2]
                        return item
                self.changed.wait()

    def finished(self, item: tuple[int, str, int]) -> None:
        with self.changed:
            self.in_flight -= item[2]
            self.changed.notify_all()


def _synthesize_shared(engine: Engine, work: _SharedWork) -> tuple[int, np.ndarray, float]:
    """Runs in a synthesis thread: one utterance from the shared work -> (its position, PCM, engine seconds)."""
    item = work.take()
    try:
        return (item[0], *_timed_pcm16(engine, item[1]))
    finally:
        work.finished(item)


def _synthesize_in_worker(spoken: str) -> tuple[np.ndarray | None, float, tuple[str, str, str | None] | None]:
    """Runs in a worker process: our errors come back as values (their hint does not survive pickling as an
    exception)."""
    if _WORKER_ENGINE is None:
        return None, 0.0, _WORKER_ERROR or ("AudioEditionError", "the synthesis worker has no engine", None)
    try:
        samples, seconds = _timed_pcm16(_WORKER_ENGINE, spoken)
        return samples, seconds, None
    except AudioEditionError as exc:
        return None, 0.0, _error_value(exc)


@dataclass
class SynthesisStats:
    """What a pool did: for the build summary and the benchmarks."""

    synthesized: int = 0  # utterances sent to the engine
    cached: int = 0  # utterances served from the clip cache
    engine_seconds: float = 0.0  # time inside engine.synthesize, summed over threads / workers
    engines_opened: int = 0  # voice loads in this process (jobs=1, or threads) or worker process pools started
    longest_spoken: int = 0  # characters of the longest text sent to the engine (memory grows with it)
    voice_load_seconds: float = 0.0  # opening the engine in this process (threads / jobs=1), part of the phase


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class SynthesisPool:
    """Engines kept open across calls, so every article of a build reuses the loaded voice.

    - jobs=1: the engine in this process, called in the calling thread.
    - jobs>1, an engine that is `parallel_threads` (Piper): ONE engine in this process, shared by `jobs` threads.
    - jobs>1, any other engine (espeak): `jobs` spawned worker processes, each with its own engine.

    Nothing is loaded until a sentence is missing from the cache: a rebuild where everything is cached or
    unchanged neither loads the voice nor starts a thread or worker (voice id and sample rate come from its files).
    Clips come back as 16-bit PCM, whether synthesised or read from the cache (the same bytes either way).

    Keep one open for a whole build:
        with SynthesisPool(spec, jobs) as pool:
            for script in scripts:
                clips = pool.synthesize(script.utterances, on_clip=progress)
    """

    def __init__(self, spec: EngineSpec, jobs: int | None = None, cache: ClipCache | None = None) -> None:
        self.spec = spec
        self.jobs = max(1, jobs if jobs is not None else default_jobs())
        self.cache = cache
        self.stats = SynthesisStats()
        self._closed = False
        info = describe_engine(spec)  # a bad voice config fails here, in one line, before any synthesis
        self.sample_rate = info.sample_rate
        self.voice_id = info.voice_id
        self.engine_name = info.name
        self.uses_threads = self.jobs > 1 and engine_class(spec).parallel_threads
        self._engine: Engine | None = None  # in this process: jobs=1, or shared by the threads
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None

    def _local_engine(self) -> Engine:
        """The engine in this process, opened on the first cache miss (in the calling thread: a voice that cannot
        load fails here, in one line, before any task is queued)."""
        if self._engine is None:
            _map_large_blocks()
            started = time.perf_counter()
            self._engine = open_engine(self.spec)
            self.stats.voice_load_seconds += time.perf_counter() - started
            self.stats.engines_opened += 1
        return self._engine

    def _submit_shared(self, work: _SharedWork) -> Future:
        """Queue one synthesis from `work` on the threads, opening the engine and starting them on the first miss."""
        engine = self._local_engine()
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="synthesis")
        return self._threads.submit(_synthesize_shared, engine, work)

    def _submit(self, spoken: str) -> Future:
        """Queue one synthesis on the worker processes, starting them on the first cache miss."""
        if self._processes is None:
            # A model that onnxruntime cannot load fails here, in one line, before any worker starts (an
            # unoptimised session: a fraction of the cost of the workers' real ones).
            check_voice(self.spec)
            self.stats.engines_opened += 1
            # spawn, not fork: a forked onnxruntime/espeak state is not safe to reuse
            self._processes = ProcessPoolExecutor(max_workers=self.jobs, mp_context=get_context("spawn"),
                                                  initializer=_init_worker, initargs=(self.spec,))
        return self._processes.submit(_synthesize_in_worker, spoken)

    def __enter__(self) -> "SynthesisPool":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def release(self) -> None:
        self._release()
        _give_back_freed_memory()

    def _release(self) -> None:
        """Free the loaded voice now (threads stop, workers exit); a later cache miss opens it again. The build
        calls it before assembling its last episode, the step that needs the most memory on a long article."""
        executors: list[Executor | None] = [self._threads, self._processes]
        self._threads = self._processes = None
        for executor in executors:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        self._engine = None  # after the threads stopped: none of them still uses it

    def close(self) -> None:
        self.release()
        self._closed = True

    def synthesize(self, utterances: Sequence[Utterance],
                   on_clip: Callable[[Clip], None] | None = None) -> list[Clip]:
        """One Clip (16-bit PCM) per utterance, in the same order. `on_clip` is called as each clip is ready,
        always in the calling thread (so are the cache writes)."""
        clips: list[Clip | None] = [None] * len(utterances)

        if self._closed:
            raise RuntimeError("SynthesisPool is closed")

        def done(position: int, samples: np.ndarray) -> None:
            clip = Clip(utterance=utterances[position].index, samples=samples, sample_rate=self.sample_rate)
            clips[position] = clip
            if on_clip is not None:
                on_clip(clip)

        def synthesized(position: int, samples: np.ndarray, seconds: float) -> None:
            self.stats.synthesized += 1
            self.stats.engine_seconds += seconds
            if self.cache is not None:
                self.cache.put(clip_key(self.voice_id, {}, utterances[position].spoken), samples, self.sample_rate)
            done(position, samples)

        pending: dict[Future, int] = {}
        missing: list[tuple[int, str]] = []  # (position, text) to speak on the threads
        for position, utterance in enumerate(utterances):
            if not utterance.spoken or not utterance.spoken.strip():
                done(position, np.zeros(0, dtype=np.int16))
                continue
            if self.cache is not None:
                hit = self.cache.get(clip_key(self.voice_id, {}, utterance.spoken))
                if hit is not None and hit[1] == self.sample_rate:
                    self.stats.cached += 1
                    done(position, hit[0])
                    continue
            self.stats.longest_spoken = max(self.stats.longest_spoken, len(utterance.spoken))
            if self.jobs == 1:
                synthesized(position, *_timed_pcm16(self._local_engine(), utterance.spoken))
            elif self.uses_threads:
                missing.append((position, utterance.spoken))
            else:
                pending[self._submit(utterance.spoken)] = position
        if missing:
            engine = self._local_engine()
            work = _SharedWork([(position, text, engine.cost(text)) for position, text in missing], self.jobs,
                                   getattr(engine, "bounded_runs", False))
            pending.update((self._submit_shared(work), -1) for _ in missing)  # each result carries its position

        try:
            remaining = set(pending)
            while remaining:
                finished, remaining = wait(remaining, return_when=FIRST_EXCEPTION)
                for future in finished:
                    if self.uses_threads:  # a thread raises our errors as they are (nothing is pickled)
                        position, samples, seconds = future.result()
                    else:
                        samples, seconds, error = future.result()
                        if error is not None:
                            kind, message, hint = error
                            raise (InputError if kind == "InputError" else AudioEditionError)(message, hint)
                        position = pending[future]
                    synthesized(position, samples, seconds)
        except BrokenProcessPool:
            raise AudioEditionError("a synthesis worker died (out of memory?)", "retry with --jobs 1") from None
        finally:
            for future in pending:
                future.cancel()
        return [c for c in clips if c is not None]


def synthesize_clips(utterances: Sequence[Utterance], spec: EngineSpec, jobs: int | None = None,
                     on_clip: Callable[[Clip], None] | None = None, cache: ClipCache | None = None) -> list[Clip]:
    """Synthesise every utterance, in order (jobs=1: in this process; else threads or processes, see
    SynthesisPool; default = cores)."""
    speakable = sum(1 for u in utterances if u.spoken and u.spoken.strip())
    jobs = max(1, min(jobs if jobs is not None else default_jobs(), max(speakable, 1)))
    with SynthesisPool(spec, jobs, cache) as pool:
        return pool.synthesize(utterances, on_clip=on_clip)

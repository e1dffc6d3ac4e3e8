"""Piper: piper-tts `PiperVoice` on onnxruntime sessions we build ourselves with one thread
(`intra_op_num_threads=1`, `inter_op_num_threads=1`): parallelism comes from several threads calling the same
session at once (onnxruntime's `run` is thread-safe and releases the GIL), and Piper's default session would use
every core per call and oversubscribe the machine. Once the process has grown past ARENA_SHRINK_ABOVE_BYTES, calls
run with the arena shrinkage run option, so the memory long utterances needed goes back instead of staying (and
fragmenting) in the arena. Only espeak-ng's phonemizer (one global state per process) is serialised, under
`PHONEMIZE_LOCK`. A VITS voice is cut into its encoder and its HiFi-GAN decoder (`voice.graph`), the decoder run
window by window on 2-D convolutions (`SplitSession`: same samples, a run's memory bounded, faster); the cut is
kept in the user cache dir (`voice-parts/`). A voice that cannot be cut runs whole."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import platform
import shutil
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from audio_edition.errors import AudioEditionError, InputError
from audio_edition.fileio import atomic_write_bytes
from audio_edition.voice.clip_cache import default_cache_dir
from audio_edition.voice.graph import (
    DecoderLayout,
    NotSplittable,
    decode_by_parts,
    split_voice,
)
from audio_edition.voice.spec import EngineSpec, cached_file_digest

log = logging.getLogger(__name__)


def make_session(model_path: Path, *, optimize: bool = True, model_bytes: bytes | None = None,
                 save_optimized: Path | None = None):
    """A single-threaded CPU onnxruntime session (parallelism comes from several threads calling it at once), on
    the file or, when given, on `model_bytes` (a part of it: voice_graph). With `save_optimized`, the graph is
    written there once onnxruntime has optimised it (every level, the layout ones for this CPU included), so that
    a later session opens from it with `optimize=False`, without redoing them."""
    import onnxruntime  # lazy: onnxruntime is slow to load: only when a voice is opened, not for every command

    options = onnxruntime.SessionOptions()
    if not optimize:  # to check the model loads (3x faster to open), or a graph optimised and saved before
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    if save_optimized is not None:
        options.optimized_model_filepath = str(save_optimized)
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    # No memory pattern: onnxruntime would keep a planned block for every input shape it has seen (each sentence
    # is a new length), ~110 MB more at the peak of two threads, for no measurable speed (docs/speed.md).
    options.enable_mem_pattern = False
    # One arena for every session of the process (encoder, decoder, both threads), not one each: their peaks no
    # longer add up (docs/speed.md). Without the shared arena, onnxruntime gives the session its own.
    _share_one_arena(onnxruntime)
    options.add_session_config_entry("session.use_env_allocators", "1")
    options.log_severity_level = 3  # errors only: no graph-optimizer chatter on stderr
    try:
        return onnxruntime.InferenceSession(model_bytes if model_bytes is not None else str(model_path),
                                            sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"voice model {model_path} cannot be loaded (corrupt or not an ONNX model): "
                         f"{first_line[:200]}", "download it again: audio-edition voices download NAME") from None


_ARENA_LOCK = threading.Lock()
_ARENA_SHARED = False


def _share_one_arena(onnxruntime) -> None:
    """Register, once per process, the CPU arena that sessions made with `session.use_env_allocators` share.
    It grows by doubling, onnxruntime's default: growing by what each run asks for held more, not less."""
    global _ARENA_SHARED
    with _ARENA_LOCK:
        if _ARENA_SHARED:
            return
        _ARENA_SHARED = True
        try:
            memory = onnxruntime.OrtMemoryInfo("Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                               onnxruntime.OrtMemType.DEFAULT)
            onnxruntime.create_and_register_allocator(memory, onnxruntime.OrtArenaCfg(0, 0, -1, -1))
        except Exception as exc:  # registered already by another user of this process: sessions share that one
            log.debug("shared onnxruntime arena not registered: %s", exc)


def read_piper_config(spec: EngineSpec):
    """The voice's .onnx.json as piper's PiperConfig; InputError in one line when it is missing or not one."""
    # lazy: piper-tts loads onnxruntime: only when a voice is opened or phonemes are traced
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


def piper_voice_id(spec: EngineSpec) -> str:
    """Voice name + hash of the model and config + the settings that change the audio."""
    try:
        files = cached_file_digest(Path(spec.voice_path or "")) + cached_file_digest(Path(spec.config_path or ""))
    except OSError as exc:
        raise InputError(f"cannot read voice {spec.voice_path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(files.encode()).hexdigest()[:16]
    return (f"piper:{spec.voice}:{digest}:spk={spec.speaker}:len={spec.length_scale}:"
            f"noise={spec.noise_scale}:noisew={spec.noise_w_scale}")


def check_voice(spec: EngineSpec) -> None:
    """Refuse a corrupt voice, or a config that does not match its model, before the build writes anything (the
    workers open the voice only later, after the output folder is locked). Costs one unoptimised model load."""
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

    config = read_piper_config(spec)
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
    try:
        runtime = f"{version('onnxruntime')}:{version('piper-tts')}"
        key = hashlib.sha256(f"{piper_voice_id(spec)}:{runtime}".encode()).hexdigest()
    except (InputError, PackageNotFoundError):
        return None
    return default_cache_dir().parent / "verified-voices" / key


_CHECKED_VOICES: set[tuple[EngineSpec, int, int]] = set()

# Piper's phonemizer is espeak-ng (statically linked in piper's espeakbridge): one global state per process, so
# only one thread may phonemize at a time. Inference, the expensive part, runs outside this lock.
PHONEMIZE_LOCK = threading.Lock()
ARENA_SHRINKAGE = ("memory.enable_memory_arena_shrinkage", "cpu:0")
# Past this resident size, a run gives the arena's free blocks back. Shrinking after every run costs synthesis
# time (the next run maps and faults those pages in again); never shrinking lets the arena fragment and grow on a
# long article (docs/speed.md). Above the size that two concurrent runs need, shrinking only when it has grown
# keeps both: the speed, and a bounded footprint.
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
        import onnxruntime  # lazy: onnxruntime is slow to load: only when a voice is opened, not for every command

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
    """What PiperVoice runs when the voice could be cut (voice_graph): `run` is the encoder, then each part of
    the decoder window by window; all shrink their arena like ShrinkingSession. Inputs, options, ... are the
    encoder's (it has all of the voice's inputs)."""

    def __init__(self, encoder, decoders, layouts: tuple[DecoderLayout, ...]) -> None:
        self.encoder = ShrinkingSession(encoder)
        self.decoders = [ShrinkingSession(decoder) for decoder in decoders]
        self.layouts = layouts

    def run(self, output_names, input_feed, run_options=None):
        latent = self.encoder.run(None, input_feed, run_options)[0]

        def part_run(decoder: ShrinkingSession, name: str):
            return lambda piece, bounds: decoder.run(None, {name: piece, **bounds}, run_options)[0]

        runs = [part_run(decoder, layout.latent_name) for decoder, layout in zip(self.decoders, self.layouts)]
        return [decode_by_parts(runs, latent, self.layouts)]

    @property
    def shrinks(self) -> int:
        return self.encoder.shrinks + sum(decoder.shrinks for decoder in self.decoders)

    def __getattr__(self, name: str):
        return getattr(self.encoder.session, name)


# Bump when voice_graph cuts a voice differently, or the parts are kept otherwise: older ones are then not used.
VOICE_PARTS_VERSION = 8


def voice_parts_root() -> Path:
    """Where cut voices are kept (next to the default clip cache; `cache info` / `cache clear` show and empty it)."""
    return default_cache_dir().parent / "voice-parts"


def voice_parts_usage() -> tuple[int, int]:
    """(voices kept, bytes)."""
    root = voice_parts_root()
    kept = [folder for folder in root.iterdir() if folder.is_dir()] if root.is_dir() else []
    return len(kept), sum(f.stat().st_size for folder in kept for f in folder.iterdir() if f.is_file())


def clear_voice_parts() -> int:
    """Delete every kept cut (the next build cuts its voice again). Returns how many voices were removed."""
    count, _ = voice_parts_usage()
    shutil.rmtree(voice_parts_root(), ignore_errors=True)
    return count


def _voice_parts_dir(model_path: Path) -> Path | None:
    """Where the cut of this exact voice file is kept: keyed by its content, our cut's version, onnx's and
    onnxruntime's, and the CPU's instruction sets (the parts are kept as onnxruntime optimised them for this CPU:
    a cache folder shared by other machines keeps theirs apart)."""
    try:
        material = (f"{cached_file_digest(model_path)}:{VOICE_PARTS_VERSION}:{version('onnx')}:"
                    f"{version('onnxruntime')}:{cpu_signature()}")
    except (OSError, PackageNotFoundError):
        return None
    return voice_parts_root() / hashlib.sha256(material.encode()).hexdigest()[:32]


@functools.cache
def cpu_signature() -> str:
    """The machine and the vector instruction sets its CPU has: what onnxruntime's layout optimisations (the
    blocked convolution kernels' block size, the weights reordered for it) depend on."""
    vector = ("avx", "fma", "f16c", "sse", "amx", "asimd", "sve", "i8mm", "bf16")
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            line = next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        line = ""
    flags = sorted({flag for flag in line.partition(":")[2].split() if flag.startswith(vector)})
    return f"{platform.machine()}:{platform.processor() if not line else ' '.join(flags)}"


def _open_piper_session(model_path: Path):
    """The session PiperVoice will run: the voice cut in two when it can be (bounded memory per run, faster
    decoder: voice_graph), else the whole model. The cut is kept on disk: cutting reads the whole graph in
    Python (time and memory), loading the kept parts costs neither, and the parts are kept as onnxruntime
    optimised them, so that they open several times faster (docs/speed.md)."""
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
        # Opened from what was just kept: onnxruntime optimised each part once, to write it, and the first
        # build runs the same graphs as every later one.
        layouts = {"layouts": [dataclasses.asdict(layout) for layout in split.layouts]}
        models = {"encoder.onnx": split.encoder,
                  **{f"decoder-{index}.onnx": decoder for index, decoder in enumerate(split.decoders)}}
        if _keep_parts(parts, layouts, model_path, models):
            session = _open_kept_parts(parts, model_path)
            if session is not None:
                return session
        return SplitSession(make_session(model_path, model_bytes=split.encoder),
                            [make_session(model_path, model_bytes=decoder) for decoder in split.decoders],
                            split.layouts)
    return ShrinkingSession(make_session(model_path))


def _open_kept_parts(parts: Path | None, model_path: Path):
    """The session from parts cut before, or None (none kept, or unusable: then they are removed)."""
    if parts is None or not (parts / "layout.json").is_file():
        return None
    try:
        kept = json.loads((parts / "layout.json").read_text(encoding="utf-8"))
        if "whole" not in kept:
            layouts = tuple(DecoderLayout(**layout) for layout in kept["layouts"])
            return SplitSession(make_session(parts / "encoder.onnx", optimize=False),  # optimised when kept
                                [make_session(parts / f"decoder-{index}.onnx", optimize=False)
                                 for index in range(len(layouts))], layouts)
    except (OSError, ValueError, KeyError, TypeError, InputError) as exc:
        log.warning("kept parts of voice %s are unusable (%s): cutting it again", model_path.name, exc)
        shutil.rmtree(parts, ignore_errors=True)
        return None
    # Kept as "run whole": outside the try, so that a voice that cannot load says so instead of being cut again.
    return ShrinkingSession(make_session(model_path))


def _keep_parts(parts: Path | None, description: dict, model_path: Path | None = None,
                models: dict[str, bytes] | None = None) -> bool:
    """Write the parts (`models`: file name -> the part cut from the voice at `model_path`) as onnxruntime
    optimises them, then layout.json last, each file written whole then renamed: a kept layout.json means complete
    parts. Only a shortcut: a cache that cannot be written is skipped (False)."""
    if parts is None:
        return False
    try:
        parts.mkdir(parents=True, exist_ok=True)
        for name, model in (models or {}).items():
            partial = parts / f".{name}.{os.getpid()}.tmp"
            try:
                make_session(model_path or parts / name, model_bytes=model, save_optimized=partial)
                os.replace(partial, parts / name)
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
    parallel_threads: ClassVar[bool] = True

    def __init__(self, spec: EngineSpec) -> None:
        # lazy: piper-tts loads onnxruntime: only when a voice is opened or phonemes are traced
        from piper import PiperVoice, SynthesisConfig

        self.model_path = Path(spec.voice_path or "")
        self.config_path = Path(spec.config_path or "")
        config = read_piper_config(spec)
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
        return piper_voice_id(self.spec)

    def cost(self, spoken: str) -> int:
        """How much the text will weigh on memory when spoken: its phonemes (an onnxruntime run's memory grows
        with the audio, that is with the phonemes, not the characters: a spelled-out figure is short to write and
        long to say). The phonemes are kept for `synthesize`."""
        with PHONEMIZE_LOCK:
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
            with PHONEMIZE_LOCK:
                sentences = self._phonemized.pop(spoken, None) or self.voice.phonemize(spoken)
            chunks = []
            for phonemes in sentences:
                if not phonemes:
                    continue
                audio = self.voice.phoneme_ids_to_audio(self.voice.phonemes_to_ids(phonemes), self.synthesis_config)
                assert isinstance(audio, np.ndarray)  # without alignments: the samples alone
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

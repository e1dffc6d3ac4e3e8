"""espeak-ng from the `espeakng-loader` wheel (its libespeak-ng.so and data, through ctypes): the offline
fallback, robotic but always there. Never chosen silently: `resolve_engine` sets `fallback_reason`, logs a WARNING,
and the build prints it."""

from __future__ import annotations

import ctypes
import logging
import re
import threading
from importlib.metadata import version
from pathlib import Path
from typing import ClassVar

import espeakng_loader
import numpy as np

from audio_edition.errors import AudioEditionError, InputError
from audio_edition.voice.spec import ESPEAK_SAMPLE_RATE, EngineSpec

log = logging.getLogger(__name__)


_PHONEME_BLOCK = re.compile(r"\[\[.*?\]\]")
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
    parallel_threads: ClassVar[bool] = False  # one global synthesiser per process (`_ESPEAK_LOCK`): threads would take turns

    def __init__(self, spec: EngineSpec) -> None:
        global _ESPEAK_LIB
        self.spec = spec
        self.sample_rate = ESPEAK_SAMPLE_RATE
        self.voice_id = espeak_voice_id(spec)
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

    def cost(self, spoken: str) -> int:
        return len(spoken)

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


def espeak_voice_id(spec: EngineSpec) -> str:
    return f"espeak:{spec.espeak_voice}:rate={spec.espeak_rate}:{_espeak_version()}"


def _espeak_version() -> str:
    try:
        return f"loader{version('espeakng-loader')}"
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "loader?"

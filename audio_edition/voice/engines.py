"""Opening an engine from its spec: Piper (the product's voice) or espeak-ng (the offline fallback)."""

from __future__ import annotations

import logging

from audio_edition.errors import InputError
from audio_edition.voice.espeak import EspeakEngine, espeak_voice_id
from audio_edition.voice.piper import PiperEngine, piper_voice_id, read_piper_config
from audio_edition.voice.spec import ESPEAK_SAMPLE_RATE, Engine, EngineInfo, EngineSpec

log = logging.getLogger(__name__)


def describe_engine(spec: EngineSpec) -> EngineInfo:
    """Sample rate and voice id from the voice's files alone: no ONNX session, so a rebuild where every sentence
    is cached (or every article unchanged) never pays for loading the model."""
    if spec.engine == "piper":
        config = read_piper_config(spec)
        return EngineInfo("piper", int(config.sample_rate), piper_voice_id(spec))
    if spec.engine == "espeak":
        return EngineInfo("espeak", ESPEAK_SAMPLE_RATE, espeak_voice_id(spec))
    raise InputError(f"unknown engine {spec.engine!r}", "use piper or espeak")


def engine_class(spec: EngineSpec) -> type[PiperEngine] | type[EspeakEngine]:
    """The class `open_engine` would use, to read its class attributes without loading anything."""
    if spec.engine == "piper":
        return PiperEngine
    if spec.engine == "espeak":
        return EspeakEngine
    raise InputError(f"unknown engine {spec.engine!r}", "use piper or espeak")


def open_engine(spec: EngineSpec) -> Engine:
    return engine_class(spec)(spec)

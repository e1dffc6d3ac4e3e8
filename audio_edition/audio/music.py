"""Jingles and music beds: decoded and resampled by pydub, laid under the voice by sample.

pydub's job here is the one it is made for: read any audio ffmpeg reads (MP3, M4A/AAC, Ogg, FLAC, WAV…), make
it mono at the episode's rate (`set_channels`, `set_frame_rate`). It runs the imageio-ffmpeg binary
(ffmpeg.ffmpeg_exe), never a system ffmpeg; it would ask ffprobe (which that wheel does not ship) for the
stream's codec, so we tell it the codec ourselves, read from ffmpeg's own description of the file. Stitching
stays sample-exact numpy (pydub's slicing counts whole milliseconds).

A music bed plays under the intro and under the outro: `bed_lead_s` of bed alone before the first word (faded
in over `bed_fade_s`), under the intro's sentences ducked by `bed_duck_db` with `bed_ramp_ms` ramps that end
before each word and start after it, back up in the pauses, faded out by the start of the title; then again
from the outro's first word to `bed_lead_s` after its last, faded in and out. Its level in the pauses is
`bed_level_db` relative to the voice's (RMS of the speech). The whole episode is then normalised as before.
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_edition.audio import ffmpeg
from audio_edition.audio.samplefile import Samples
from audio_edition.config import AudioConfig, Config
from audio_edition.errors import InputError

with warnings.catch_warnings():  # pydub looks for an ffmpeg on PATH when imported; load_audio gives it ours
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)  # its audioop import (audioop-lts from Python 3.13)
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

log = logging.getLogger(__name__)

_AUDIO_STREAM = re.compile(r"Stream #\d+:\d+[^:]*: Audio: ([a-z0-9_]+)")


def _codec_of(path: Path, what: str) -> str:
    """The audio codec of PATH as ffmpeg names its decoder ("vorbis", "aac", "mp3", "flac", "pcm_s16le")."""
    proc = subprocess.run([ffmpeg.ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                          timeout=60, check=False)
    found = _AUDIO_STREAM.search(proc.stderr.decode("utf-8", "replace"))
    if found is None:
        raise InputError(f"{what} is not audio ffmpeg can read: {path}")
    return found.group(1)


# Decoded jingles and beds, kept for the process (a build decodes them while it reads its articles, on the core
# the voice does not use yet; every episode of the build then takes them from here). Keyed by the file's size and
# time of change, so an edited file is decoded again; the last few only.
DECODED_KEPT = 4
_decoded: dict[tuple[str, int, int, int], np.ndarray] = {}
_decoding: dict[tuple[str, int, int, int], threading.Lock] = {}
_decoded_lock = threading.Lock()


def load_audio(path: Path, rate: int, what: str) -> np.ndarray:
    """PATH (any format ffmpeg reads) as mono float32 at RATE, decoded and resampled by pydub (read-only: it may be
    shared with the build's other episodes)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(f"{what} cannot be read: {path} ({exc.strerror})") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, rate)
    with _decoded_lock:
        one_at_a_time = _decoding.setdefault(key, threading.Lock())
    with one_at_a_time:  # a second caller waits for the decoding under way instead of doing it again
        with _decoded_lock:
            found = _decoded.get(key)
        if found is None:
            found = _decode(path, rate, what)
            found.flags.writeable = False
            with _decoded_lock:
                _decoded[key] = found
                for old in list(_decoded)[:-DECODED_KEPT]:
                    del _decoded[old]
                    _decoding.pop(old, None)
        return found


def decode_ahead(config: Config) -> None:
    """Decode the configured jingles and bed now (load_audio keeps them); a file that does not decode is left for
    the assembly to report."""
    audio = config.audio
    for setting, what in ((audio.jingle_intro, "jingle intro"), (audio.jingle_outro, "jingle outro"),
                          (audio.music_bed, "music bed")):
        path = config.resolve(setting)
        if path is not None and path.is_file():
            try:
                load_audio(path, audio.sample_rate, what)
            except InputError:
                pass


def _decode(path: Path, rate: int, what: str) -> np.ndarray:
    AudioSegment.converter = ffmpeg.ffmpeg_exe()  # pydub runs this ffmpeg, not one from PATH
    try:
        segment = AudioSegment.from_file(str(path), codec=_codec_of(path, what))
    except (CouldntDecodeError, OSError, IndexError) as exc:
        raise InputError(f"{what} is not audio ffmpeg can read: {path}", f"{type(exc).__name__}") from None
    segment = segment.set_channels(1).set_sample_width(2).set_frame_rate(rate)
    samples = np.frombuffer(segment.raw_data, dtype=np.int16).astype(np.float32) / 32768.0
    if len(samples) == 0:
        raise InputError(f"{what} has no audio: {path}")
    return samples


def energy(samples: np.ndarray) -> float:
    """The sum of the squares of SAMPLES (in float64: a long signal's sum would lose precision in float32)."""
    return float(np.dot(samples.astype(np.float64), samples))


def level_db(samples: np.ndarray) -> float:
    """RMS level in dB (full scale 0 dB); -inf for silence."""
    return level_db_of_energy(energy(samples), len(samples))


def level_db_of_energy(energy: float, count: int) -> float:
    """RMS level in dB of `count` samples whose squares sum to `energy`; -inf for silence."""
    return 10 * math.log10(energy / count) if count and energy > 0 else float("-inf")


@dataclass(frozen=True)
class BedSpan:
    """Where one bed plays, in samples of the episode: [start, end), with the speech it ducks under."""

    start: int
    end: int
    speech: tuple[tuple[int, int], ...]


def _ramp_envelope(length: int, speech: tuple[tuple[int, int], ...], ramp: int) -> np.ndarray:
    """0 in the pauses, 1 under speech, with linear ramps of RAMP samples that reach 1 before a word starts and
    leave it after the word ends."""
    envelope = np.zeros(length, dtype=np.float32)
    for start, end in speech:
        a, b = max(0, start - ramp), min(length, end + ramp)
        envelope[a:b] = 1.0
    if ramp > 1:  # a box filter: the ramps lie in the dilated margins, so speech itself is fully ducked
        smoothed = _box_filter(envelope, ramp)
        for start, end in speech:  # exact 1 under the words, whatever the filter's rounding
            smoothed[max(0, start):min(length, end)] = 1.0
        envelope = np.clip(smoothed, 0.0, 1.0)
    return envelope


def _box_filter(signal: np.ndarray, width: int) -> np.ndarray:
    """np.convolve(signal, ones(width) / width, mode="same") by running sums: O(n), not O(n * width) (a 150 ms
    ramp is 6,615 samples at 44.1 kHz)."""
    sums = np.concatenate([[0.0], np.cumsum(signal, dtype=np.float64)])
    last = (width - 1) // 2  # "same": output i averages the inputs from i + last - width + 1 to i + last
    index = np.arange(len(signal))
    hi = np.clip(index + last + 1, 0, len(signal))
    lo = np.clip(index + last - width + 1, 0, len(signal))
    return ((sums[hi] - sums[lo]) / width).astype(np.float32)


def level_jingle(jingle: np.ndarray, voice_db: float, relative_db: float) -> np.ndarray:
    """The jingle brought to `relative_db` from the voice's RMS level `voice_db` (a new array, clipped like the
    rest of the episode): the same jingle then sits at the same place against any voice, however loud the voice's
    raw output, instead of taking the voice's normalising gain (+17 dB on a quiet voice: a mastered jingle would be
    crushed by the limiter)."""
    jingle_db = level_db(jingle)
    if not (math.isfinite(jingle_db) and math.isfinite(voice_db)):
        return jingle.copy()
    gain = np.float32(10 ** ((voice_db + relative_db - jingle_db) / 20))
    return np.clip(jingle * gain, -1.0, 1.0).astype(np.float32, copy=False)


def mix_bed(samples: Samples, rate: int, bed: np.ndarray, spans: list[BedSpan], settings: AudioConfig,
            voice_db: float) -> None:
    """Add the bed under each span of SAMPLES (in place), at `bed_level_db` under the voice in the pauses and
    `bed_duck_db` lower under speech."""
    bed_db = level_db(bed)
    if not np.isfinite(bed_db) or not np.isfinite(voice_db):
        return
    pause_gain = 10 ** ((voice_db + settings.bed_level_db - bed_db) / 20)
    ramp = max(1, int(settings.bed_ramp_ms * rate / 1000))
    fade = max(1, int(settings.bed_fade_s * rate))
    for span in spans:
        length = span.end - span.start
        if length <= 0:
            continue
        music = np.resize(bed, length)  # looped when the bed is shorter than the span
        local = tuple((s - span.start, e - span.start) for s, e in span.speech)
        ducked_db = settings.bed_duck_db * _ramp_envelope(length, local, ramp)
        gain = pause_gain * np.power(10.0, ducked_db / 20, dtype=np.float32)
        n = min(fade, length // 2)
        gain[:n] *= np.linspace(0.0, 1.0, n, dtype=np.float32)
        gain[length - n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
        # clipped like the rest of the episode (the voice's clips and the jingles are in [-1, 1] already)
        samples[span.start:span.end] = np.clip(samples[span.start:span.end] + music * gain, -1.0, 1.0)


def check_music_config(config: Config) -> None:
    audio = config.audio
    path = config.resolve(audio.music_bed)
    if path is not None and not path.is_file():
        raise InputError(f"music bed not found: {path}", "fix [audio] music_bed in the config")
    if not -30.0 <= audio.jingle_level_db <= 10.0:
        raise InputError(f"[audio] jingle_level_db {audio.jingle_level_db} is out of range", "use 0 (-30 to 10)")
    if not -40.0 <= audio.bed_level_db <= 0.0:
        raise InputError(f"[audio] bed_level_db {audio.bed_level_db} is out of range", "use -6")
    if not -40.0 <= audio.bed_duck_db <= -6.0:
        raise InputError(f"[audio] bed_duck_db {audio.bed_duck_db} is out of range", "use -18")
    if not 10 <= audio.bed_ramp_ms <= 1000 or not 0.0 <= audio.bed_fade_s <= 10.0 or not 0.0 <= audio.bed_lead_s <= 10.0:
        raise InputError("[audio] bed_ramp_ms (10-1000), bed_fade_s and bed_lead_s (0-10) are out of range")

"""The assemble stage: clips + pauses -> one MP3 episode, its Timeline, tags, transcripts and episode.json.

Stitching is done on numpy arrays, sample by sample, so that the Timeline is exact (pydub counts whole
milliseconds and would drift over a long article); libsoxr resamples (resample.py), ffmpeg (imageio-ffmpeg)
encodes. Loudness is set on the whole episode (a measured gain to -16 LUFS, with a look-ahead true-peak limiter
where the gain would push peaks over), never per sentence, so quiet and loud sentences keep their relation.
Measuring and limiting are done in this process (loudness.py) on pieces of the episode, and nothing of its size
is held in memory: the clips come from a spool file, the stitched samples and the limiter's gains live in files
beside the episode (samplefile.py), and the gain is a curve applied piece by piece as the encoder is fed.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_edition.audio import ffmpeg, loudness, mp3file, music, resample
from audio_edition.audio.loudness import BlockPeaks, GainCurve, Measurement, db_to_gain
from audio_edition.audio.samplefile import HeadReplaced, SampleFile, Samples
from audio_edition.audio.tags import artist_name, write_tags
from audio_edition.audio.transcripts import write_transcripts
from audio_edition.config import AudioConfig, Config
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.fileio import atomic_write_text
from audio_edition.models import (
    PCM16_FULL_SCALE,
    Clip,
    Clips,
    Episode,
    Script,
    Span,
    Timeline,
    episode_to_dict,
    to_float32,
)
from audio_edition.slug import content_hash_of_file
from audio_edition.voice.pool import default_jobs

log = logging.getLogger(__name__)

OUTPUT_RATE = 44100  # the default ([audio] sample_rate); MP3 (MPEG-1 layer III) also allows 32 and 48 kHz
MP3_RATES = (32000, 44100, 48000)
FADE_S = 0.005  # raised-cosine fade at both ends of every clip: no click where speech meets silence
TRIM_THRESHOLD_DB = -50.0  # leading/trailing engine silence below this is cut; the pause after is ours to set
TRIM_KEEP_S = 0.015  # ... keeping a little air so that soft consonants are not clipped
JINGLE_GAP_S = 0.4  # silence between a jingle and the voice
# MP3 encoding overshoots peaks (docs/speed.md): limit this far below the true-peak target, so that the first
# encode passes the check (each re-encode + re-measure is a costly part of a build's wall time).
MP3_PEAK_MARGIN_DB = 1.5
# Peaks the encoder pushed over the limit get a dip this far under it, in the part that holds them, this many
# times at most before the whole gain is lowered (which moves the loudness, and encodes every part again).
REPAIR_MARGIN_DB = 0.3
PEAK_REPAIRS = 2
MAX_REPAIRED_PEAKS = 1000  # in one part: more, the encoder overshoots everywhere and lowering the gain is the fix
LOUDNESS_TOLERANCE_LU = 0.4  # we aim well inside the ±1 LU promise (re-encoding is not worth less)
ESTIMATE_TOLERANCE_LU = 0.01  # the limiter's estimate is solved this close (a step costs milliseconds)
DURATION_TOLERANCE_S = 0.05
# Samples of a clip resampled, written and metered at a time: the stitcher works while the voice speaks, so its
# arrays stay small (1.5 s at 22.05 kHz) instead of adding a long sentence's to the voice's peak (docs/speed.md).
STITCH_STEP = 1 << 15


@dataclass(frozen=True)
class StitchedAudio:
    samples: Samples  # mono float32 at `sample_rate`: an array, or a SampleFile (stitch's `directory`)
    sample_rate: int
    timeline: Timeline
    loudness: Measurement  # of `samples`, measured while they were stitched
    blocks: BlockPeaks | None = None  # what the limiter's estimate needs of them
    bed: tuple[tuple[int, int], ...] = ()  # [start, end) of each stretch a music bed plays under, in samples
    changed: tuple[tuple[int, int], ...] = ()  # the stretches changed once everything was spoken (bed, jingles)


# --- stitching -----------------------------------------------------------------------------------------------
def _speech_bounds(samples: np.ndarray) -> tuple[int, int]:
    """[start, end) of a clip without the engine's leading/trailing silence (a little air kept)."""
    limit = db_to_gain(TRIM_THRESHOLD_DB) * (PCM16_FULL_SCALE if samples.dtype == np.int16 else 1.0)
    loud = np.flatnonzero(np.abs(samples) > limit)
    if len(loud) == 0:
        return 0, 0
    return int(loud[0]), int(loud[-1]) + 1


def _fade(samples: np.ndarray, rate: int) -> np.ndarray:
    """Raised-cosine fade in and out, in place."""
    n = min(int(FADE_S * rate), len(samples) // 2)
    if n == 0:
        return samples
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, n, dtype=np.float64))).astype(np.float32)
    samples[:n] *= ramp
    samples[-n:] *= ramp[::-1]
    return samples


def _clip_at(clip: Clip, rate: int) -> np.ndarray:
    """The clip's samples at `rate` (int16 or float32 as they are when no resampling is needed)."""
    if clip.sample_rate == rate:
        return np.asarray(clip.samples).reshape(-1)
    samples = np.clip(np.nan_to_num(to_float32(np.asarray(clip.samples).reshape(-1))), -1.0, 1.0)
    return resample.resample(samples, clip.sample_rate, rate)


def _load_jingle(config: Config, setting: str | None, name: str, out_rate: int) -> np.ndarray | None:
    path = config.resolve(setting)
    if path is None:
        return None
    if not path.is_file():
        raise InputError(f"{name} not found: {path}", "fix [audio] " + name.replace(" ", "_") + " in the config")
    return _fade(music.load_audio(path, out_rate, name).copy(), out_rate)  # decoded and resampled by pydub


def _bed_spans(script: Script, timeline: Timeline, rate: int, lead: int, fade: int, length: int) -> list[music.BedSpan]:
    """Under the intro (from `lead` samples before its first word, full in the pause after it, faded out under the
    title's start) and under the outro (faded in over the `fade` before its first word, to `lead` after its
    last). Every word inside a span ducks the bed."""
    spoken = [(u.kind, round(span.start * rate), round(span.end * rate))
              for u, span in zip(script.utterances, timeline.utterances)]
    intro = [(a, b) for kind, a, b in spoken if kind == "intro"]
    outro = [(a, b) for kind, a, b in spoken if kind == "outro"]
    bounds = []
    if intro:
        after = [a for kind, a, _ in spoken if kind != "intro" and a >= intro[-1][1]]
        bounds.append((max(0, intro[0][0] - lead), min(length, (after[0] if after else intro[-1][1]) + fade)))
    if outro:
        before = max((b for kind, _, b in spoken if kind != "outro" and b <= outro[0][0]), default=0)
        bounds.append((max(before, outro[0][0] - fade), min(length, outro[-1][1] + lead)))
    return [music.BedSpan(start, end, tuple((a, b) for _, a, b in spoken if a < end and b > start))
            for start, end in bounds]


class Stitcher:
    """stitch(), a clip at a time in script order (the build feeds it while the voice speaks the next ones): each
    clip is trimmed, faded and laid after the one before with its pause, brought to the episode's rate as it comes
    (one resampler for the whole track: no seam at the clips' edges), written to the samples and metered there.
    `directory`: the samples go into a SampleFile there (a long episode is not held in memory); None, an array.
    `on_grid(stitcher, n)` is called each time the samples reach a multiple of `grid` samples (EpisodeParts cuts
    the MP3 into parts from there, and fixes the first parts' gains)."""

    def __init__(self, script: Script, config: Config, directory: Path | None, rate: int, grid: int = 0,
                 on_grid: Callable[[Stitcher, int], None] | None = None) -> None:
        if not script.utterances:
            raise InputError(f"nothing to read in “{script.article.title}”")
        self.script, self.config, self.rate = script, config, rate  # `rate`: the voice's, where clips are laid
        self.out_rate = out_rate = config.audio.sample_rate
        self.grid, self.on_grid = grid, on_grid
        self._in_memory = directory is None
        intro = _load_jingle(config, config.audio.jingle_intro, "jingle intro", out_rate)
        self._outro = _load_jingle(config, config.audio.jingle_outro, "jingle outro", out_rate)
        bed_path = config.resolve(config.audio.music_bed)
        self._bed = music.load_audio(bed_path, out_rate, "music bed") if bed_path is not None else None
        self._bed_lead = int(config.audio.bed_lead_s * out_rate) if self._bed is not None else 0  # the bed alone
        self.samples = SampleFile(0, directory)  # grows as the clips come (an array is made of it at the end)
        self.meter = loudness.LoudnessMeter(out_rate)  # the loudness, measured as the samples land
        self.blocks = loudness.BlockPeaksSoFar(out_rate)  # and what the limiter's estimate needs
        self.positions: dict[int, tuple[int, int]] = {}  # utterance index -> (start, end) in samples at `rate`
        self._next = 0  # the position in the script of the clip expected next
        self._cursor = 0  # where the next clip goes, at `rate`
        self._speech_written = 0  # samples of speech (at the episode's rate) in `samples`
        self._keep = int(TRIM_KEEP_S * rate)
        # the voice's level, which jingles and bed are set against: the energy of the clips laid, at the voice's
        # rate (resampling keeps the level)
        self._levels = intro is not None or self._outro is not None or self._bed is not None
        self._speech_energy, self._speech_count = 0.0, 0
        self._intro_length = len(intro) if intro is not None else 0
        self._resampler = resample.stream(rate, out_rate) if rate != out_rate else None
        # The intro jingle and the bed's lead are laid with the first clip (or at finish), not here: metering them
        # needs scipy, which may still be loading, and the voice starts once the stitcher is made.
        head = [intro, np.zeros(int(JINGLE_GAP_S * out_rate), dtype=np.float32)] if intro is not None else []
        head.append(np.zeros(self._bed_lead, dtype=np.float32))
        self._head: np.ndarray | None = np.concatenate(head)
        self.head_length = len(self._head)

    def _lay_head(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._append(head)

    def close(self) -> None:
        """Let go of the samples' file (after a failure: finish() hands the samples over)."""
        self.samples.close()

    def add(self, clip: Clip) -> None:
        """The next clip in script order."""
        if self._next >= len(self.script.utterances):
            raise AudioEditionError(f"a clip for utterance {clip.utterance} after the script's last one")
        utterance = self.script.utterances[self._next]
        if clip.utterance != utterance.index:
            raise AudioEditionError(f"the clip of utterance {clip.utterance} came where {utterance.index} goes")
        self._next += 1
        self._lay_head()
        clip_samples = _clip_at(clip, self.rate)
        start, end = _speech_bounds(clip_samples)
        start, end = (max(0, start - self._keep), min(len(clip_samples), end + self._keep)) if end > start else (0, 0)
        pause = int(round(max(0, utterance.pause_after_ms) * self.rate / 1000))
        self.positions[utterance.index] = (self._cursor, self._cursor + end - start)
        self._cursor += end - start + pause
        speech = _fade(np.clip(np.nan_to_num(to_float32(clip_samples[start:end])), -1.0, 1.0), self.rate)
        if self._levels:
            self._speech_energy += music.energy(speech)
            self._speech_count += len(speech)
        self._speak(speech)
        if pause:
            self._speak(np.zeros(pause, dtype=np.float32))

    def _speak(self, piece: np.ndarray) -> None:
        """Speech (or a pause) at the voice's rate, to the samples at the episode's."""
        if self._resampler is None:
            self._speech(piece)
            return
        for start in range(0, len(piece), STITCH_STEP):
            self._speech(self._resampler.resample_chunk(piece[start: start + STITCH_STEP], last=False))

    def _speech(self, out: np.ndarray) -> None:
        """Resampled speech, never past the length its input makes (resampled_length)."""
        room = resample.resampled_length(self._cursor, self.rate, self.out_rate) - self._speech_written
        out = out[: max(0, room)]
        self._speech_written += len(out)
        self._append(out)

    def _append(self, values: np.ndarray) -> None:
        """Write, meter, and report every multiple of `grid` reached (the values are split there)."""
        values = np.asarray(values, dtype=np.float32)
        while len(values):
            filled = len(self.samples)
            take = len(values) if not self.grid else min(len(values), self.grid - filled % self.grid)
            piece, values = values[:take], values[take:]
            self.samples.append(piece)
            self.meter.add(piece)
            self.blocks.add(piece)
            if self.grid and self.on_grid is not None and (filled + take) % self.grid == 0:
                self.on_grid(self, filled + take)

    def measured_so_far(self) -> tuple[Measurement, loudness.BlockPeaks]:
        """The loudness and the limiter's blocks of the samples written so far — the intro jingle as finish()
        will level it, against the voice's level so far (as laid, a jingle as loud as its file would weigh in the
        gain so far: the first MP3 parts' gain is found from this)."""
        measured, blocks = self.meter.so_far(), self.blocks.result()
        if self._intro_length and self._head is None and self._speech_count:
            voice_db = music.level_db_of_energy(self._speech_energy, self._speech_count)
            levelled = music.level_jingle(self.samples[0: self._intro_length], voice_db,
                                          self.config.audio.jingle_level_db)
            measured, blocks = loudness.remeasured(HeadReplaced(self.samples, levelled), self.out_rate, measured, blocks,
                                                   [(0, self._intro_length)])
        return measured, blocks

    def finish(self) -> StitchedAudio:
        """Every clip is in: the end of the speech, the outro and the bed, the Timeline."""
        script, out_rate = self.script, self.out_rate
        if self._next < len(script.utterances):
            missing = len(script.utterances) - self._next
            raise AudioEditionError(f"no audio for utterance {script.utterances[self._next].index} ({missing} "
                                    "missing)", "rebuild the episode")
        self._lay_head()
        speech_length = resample.resampled_length(self._cursor, self.rate, out_rate)
        if self._resampler is not None:
            self._speech(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        voice_db = music.level_db_of_energy(self._speech_energy, self._speech_count)
        jingle_db = self.config.audio.jingle_level_db
        tail = [np.zeros(speech_length - self._speech_written + self._bed_lead, dtype=np.float32)]
        if self._outro is not None:
            tail.append(music.level_jingle(self._outro, voice_db, jingle_db))
        length = len(self.samples) + sum(len(piece) for piece in tail)
        # Pad with silence to a whole number of 10 ms (441 samples at 44.1 kHz): the duration is then exact in
        # milliseconds, so no Timeline time (rounded to the ms) can fall after the last sample.
        tail.append(np.zeros(-length % (out_rate // 100), dtype=np.float32))
        self._append(np.concatenate(tail))
        measured = self.meter.result()
        samples: Samples = self.samples
        changed: list[tuple[int, int]] = []
        if self._intro_length:  # laid before the voice's level was known: levelled now, in place
            samples[0: self._intro_length] = music.level_jingle(samples[0: self._intro_length], voice_db, jingle_db)
            changed.append((0, self._intro_length))
        offset = self.head_length / out_rate
        duration = len(samples) / out_rate

        def at(sample: int) -> float:
            return round(offset + sample / self.rate, 3)

        utterance_spans = tuple(Span(u.index, at(self.positions[u.index][0]), at(self.positions[u.index][1]), u.text)
                                for u in script.utterances)
        timeline = _timeline(script, utterance_spans, round(duration, 3))
        bed: tuple[tuple[int, int], ...] = ()
        if self._bed is not None:
            spans = _bed_spans(script, timeline, out_rate, self._bed_lead, int(self.config.audio.bed_fade_s * out_rate),
                               len(samples))
            music.mix_bed(samples, out_rate, self._bed, spans, self.config.audio, voice_db)
            bed = tuple((span.start, span.end) for span in spans if span.end > span.start)
            changed += bed
        blocks = self.blocks.result()
        if changed:  # the intro jingle and the bed changed the loudness there only: measured again there
            measured, blocks = loudness.remeasured(samples, out_rate, measured, blocks, sorted(changed))
        if self._in_memory:
            samples = self.samples[:]
            self.samples.close()
        return StitchedAudio(samples, out_rate, timeline, measured, blocks, bed, tuple(changed))


def _every_clip(script: Script, clips: Clips) -> tuple[Mapping[int, Clip], int]:
    """The clips by utterance (an error in one line if one is missing), and the rate most of them have: the
    episode is laid at the voice's own rate (one resampling of the whole track, not one per clip)."""
    by_utterance = clips if isinstance(clips, Mapping) else {clip.utterance: clip for clip in clips}
    missing = [u.index for u in script.utterances if u.index not in by_utterance]
    if missing:
        raise AudioEditionError(f"no audio for utterance {missing[0]} ({len(missing)} missing)", "rebuild the episode")
    if not script.utterances:
        raise InputError(f"nothing to read in “{script.article.title}”")
    rates = getattr(by_utterance, "sample_rates", None) or Counter(c.sample_rate for c in by_utterance.values())
    return by_utterance, rates.most_common(1)[0][0]


def stitch(script: Script, clips: Clips, config: Config, directory: Path | None = None) -> StitchedAudio:
    """Lay the clips and their pauses end to end (plus jingles) and record where everything lands. `directory`:
    the episode's samples go into a SampleFile there instead of an array (a long episode is not held in memory);
    `clips` may then be a ClipSpool, whose clips are read from its file one at a time."""
    by_utterance, rate = _every_clip(script, clips)
    stitcher = Stitcher(script, config, directory, rate)
    try:
        for utterance in script.utterances:
            stitcher.add(by_utterance[utterance.index])
        return stitcher.finish()
    except BaseException:
        stitcher.close()
        raise


def _timeline(script: Script, utterances: tuple[Span, ...], duration: float) -> Timeline:
    """Blocks span their utterances; sections run back to back from 0 to the end, as chapters do."""
    by_block: dict[int, list[Span]] = {}
    for utterance, span in zip(script.utterances, utterances):
        by_block.setdefault(utterance.block, []).append(span)

    blocks = []
    block_start: dict[int, float] = {}
    next_start = duration
    for block in reversed(script.blocks):  # a block with nothing spoken sits where the next one starts
        spans = by_block.get(block.index)
        start, end = (spans[0].start, spans[-1].end) if spans else (next_start, next_start)
        blocks.append(Span(block.index, start, end, block.text))
        block_start[block.index] = start
        next_start = start
    blocks.reverse()

    section_starts: dict[int, float] = {}
    for block in script.blocks:
        section_starts.setdefault(block.section, block_start[block.index])
    sections = []
    ordered = sorted(script.sections, key=lambda s: s.index)
    for n, section in enumerate(ordered):
        start = 0.0 if n == 0 else section_starts.get(section.index, duration)
        end = duration
        for later in ordered[n + 1:]:
            end = section_starts.get(later.index, duration)
            break
        sections.append(Span(section.index, start, max(start, end), section.title))
    return Timeline(utterances=utterances, blocks=tuple(blocks), sections=tuple(sections), duration=duration)


# --- loudness ------------------------------------------------------------------------------------------------
def episode_gain(measured: Measurement, blocks: loudness.BlockPeaks | None, rate: int, target_lufs: float,
                 ceiling_db: float) -> float:
    """The gain (dB) that brings a signal measured as `measured` to `target_lufs`, the limiter keeping its true
    peaks under `ceiling_db` wherever that gain would push them over (loudness.limiter_curve, made part by part as
    the MP3 is encoded). A plain gain when the peaks leave room for it: exact. Otherwise limiting takes some
    loudness away, the more the harder it works: the gain is found on the limiter's estimate of that loss
    (loudness.estimate_limited, from `blocks`: milliseconds a trial), a tenth of a LU or so from what the exact
    curve measures (docs/speed.md); the MP3, measured as listeners decode it, is the final check (_encode_parts).
    Silence, or a signal too short to gate: no gain."""
    if not math.isfinite(measured.integrated_lufs):
        return 0.0
    gain = target_lufs - measured.integrated_lufs
    if measured.true_peak_dbtp + gain <= ceiling_db or blocks is None:
        return gain
    return _estimated_gain(measured.steps, blocks, rate, gain, ceiling_db, target_lufs)


def _estimated_gain(steps: np.ndarray, blocks: loudness.BlockPeaks, rate: int, gain: float, ceiling_db: float,
                    aim: float) -> float:
    """The gain at which the limiter's estimate reaches `aim`, by Newton's steps from `gain`: where the limiter
    holds the peaks down, more gain adds nothing, so the loudness rises by about (1 - the limited share of the
    energy) dB per dB of gain."""
    for _ in range(20):  # a real voice limited by 6 dB: 4 or 5 steps
        estimate, limited_share = loudness.estimate_limited(steps, blocks, rate, gain, ceiling_db)
        miss = estimate - aim
        if not math.isfinite(miss) or abs(miss) <= ESTIMATE_TOLERANCE_LU or (miss < 0 and limited_share > 0.98):
            break  # (the last: the limiter holds nearly everything down, so more gain cannot get louder)
        gain -= miss / min(1.0, max(0.2, 1.0 - limited_share))
    return gain


# --- hashes --------------------------------------------------------------------------------------------------
def compute_script_hash(script: Script, engine: str, voice: str, settings: dict | None = None) -> str:
    """Same hash = same audio: engine, voice, synthesis/audio settings, spoken texts and pauses, in order."""
    payload = {
        "engine": engine,
        "voice": voice,
        "settings": settings or {},
        "utterances": [[u.spoken, u.pause_after_ms] for u in script.utterances],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


# --- the episode ---------------------------------------------------------------------------------------------
def warm_up_assembly(config: Config) -> None:
    """Start, in background threads, what an episode's assembly will need: the check that ffmpeg runs, scipy's
    filters, the encoder's level check (a test encode) and the jingles and bed, decoded. The build calls it while
    it reads its articles: done beside the voice, they would add their memory (and ffmpeg processes) to its peak;
    done when the assembly is made, the voice would wait."""
    audio = config.audio
    ffmpeg.check_ffmpeg_ahead()
    loudness.warm_up(then=lambda: ffmpeg.mp3_gain_db(audio.bitrate_kbps, audio.sample_rate))
    if any((audio.jingle_intro, audio.jingle_outro, audio.music_bed)):  # needed first: a thread of their own
        threading.Thread(target=music.decode_ahead, args=(config,), name="decode jingles", daemon=True).start()


def check_audio_config(config: Config) -> None:
    """Raise InputError for [audio] settings we cannot honour (the build calls it before any synthesis)."""
    audio = config.audio
    if not 32 <= audio.bitrate_kbps <= 320:
        raise InputError(f"MP3 bitrate {audio.bitrate_kbps} kbps is out of range", "use 64 to 96 kbps")
    if audio.sample_rate not in MP3_RATES:
        raise InputError(f"[audio] sample_rate {audio.sample_rate} is not an MP3 rate", "use 44100")
    if not -30.0 <= audio.target_lufs <= -5.0:
        raise InputError(f"[audio] target_lufs {audio.target_lufs} is not a usable loudness", "podcasts use -16")
    if not -6.0 <= audio.true_peak_db <= 0.0:
        raise InputError(f"[audio] true_peak_db {audio.true_peak_db} is out of range", "use -1")
    for name in ("jingle_intro", "jingle_outro"):
        path = config.resolve(getattr(audio, name))
        if path is not None and not path.is_file():
            raise InputError(f"{name.replace('_', ' ')} not found: {path}", f"fix [audio] {name} in the config")
    music.check_music_config(config)


GRID_SECONDS = 10.0  # the stitcher reports every 10 s of samples: where parts are cut and sent to the encoder
# A part is encoded while the voice still speaks at the gain of the episode so far, once that is EARLY_AFTER_S long
# and reaches EARLY_LAG_S past the part's end; when the whole episode's gain is known, a part whose gain is more
# than PART_GAIN_STEP_DB from it (or that a jingle or the bed changed) is encoded again. On a real voice, the gain
# of the first two minutes is within 0.15 dB of the whole episode's; of the first minute alone, 0.8 dB
# (docs/speed.md).
EARLY_AFTER_S = 120.0
EARLY_LAG_S = 30.0
PART_GAIN_STEP_DB = 0.5
EARLY_REGAIN = 1.25  # the gain so far is found again once the episode is this much longer (not at every part:
# each time reads all of it, and an hour's episode would be read sixty times)


class PartCurves:
    """The gain curve of each part of the episode's MP3 (cut at `bounds`), made from that part's samples alone —
    the silence at a cut is longer than the limiter's reach, so it is the whole signal's curve there — at the gain
    that part is encoded with, when its encoding first reads it."""

    def __init__(self, samples: Samples, rate: int, bounds: list[int], gain_db: float, ceiling_db: float) -> None:
        self.samples, self.rate, self.bounds, self.ceiling_db = samples, rate, bounds, ceiling_db
        self.gains = [gain_db] * (len(bounds) - 1)
        self.curves: list[GainCurve | None] = [None] * (len(bounds) - 1)

    def part_of(self, sample: int) -> int:
        return max(0, min(len(self.curves) - 1, bisect.bisect_right(self.bounds, sample) - 1))

    def curve(self, k: int) -> GainCurve:
        made = self.curves[k]
        if made is None:
            made = self.curves[k] = loudness.limiter_curve_of_part(self.samples, self.rate, self.gains[k],
                                                                   self.ceiling_db, self.bounds[k], self.bounds[k + 1])
        return made

    def pieces(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """The samples from `start` to `stop` with their parts' gains applied, a piece at a time."""
        for k in range(self.part_of(start), self.part_of(max(start, stop - 1)) + 1):
            yield from self.curve(k).pieces(self.samples, max(start, self.bounds[k]), min(stop, self.bounds[k + 1]))

    def trim(self, overs: list[tuple[int, float]], ceiling: float) -> None:
        """GainCurve.trim, each peak in its part's curve."""
        for k in sorted({self.part_of(position) for position, _ in overs}):
            self.curve(k).trim([over for over in overs if self.part_of(over[0]) == k], ceiling, self.rate)

    def rescale(self, change_db: float) -> None:
        for k, made in enumerate(self.curves):
            self.gains[k] += change_db
            if made is not None:
                made.scale *= db_to_gain(change_db)


class EpisodeParts:
    """Where the episode's MP3 is cut into parts (mp3file.cut_points, decided as the samples arrive) and the gain
    of each early part: the gain of the episode so far. With `encode_now`, such a part is encoded at once, beside
    the voice, inside a `turn` (a core the voice's threads give up for it: CoreTurns); otherwise with the others
    once the voice is done — the same bytes either way. finish() encodes the rest at the whole episode's gain (and
    an early part whose gain is too far from it, or that a jingle or the bed changed since), checks the MP3 as
    listeners decode it and joins the parts."""

    def __init__(self, rate: int, audio: AudioConfig, work_dir: Path, encode_now: bool = True,
                 turn: Callable[[], AbstractContextManager] | None = None) -> None:
        self.rate, self.audio, self.work_dir = rate, audio, work_dir
        self.turn = turn or contextlib.nullcontext
        self.share = mp3file.part_share(rate)
        # (The peak ceiling is not moved: the encoder's overshoot on peaks is larger than its level change.)
        self.ceiling_db = audio.true_peak_db - MP3_PEAK_MARGIN_DB
        self.cuts: list[int] = []
        self._target = self.share  # the next place a cut is looked for near
        self._early: dict[int, tuple[float, Future | None]] = {}  # part -> (its gain, its encoding if begun)
        self._gain_so_far: tuple[int, float] | None = None  # (where it was found, the gain of the episode so far)
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="early mp3 part") if encode_now else None
        self._files: list[Path] = []  # the early parts' files: removed unless the MP3 takes them

    @functools.cached_property
    def aim(self) -> float:
        """The loudness our samples aim at, so that the MP3 (not the samples) is on target. The encoder's level
        check is memoised, and usually made already (warm_up_assembly); else it is made here, when a gain is first
        needed, in the assembly's thread."""
        return self.audio.target_lufs - ffmpeg.mp3_gain_db(self.audio.bitrate_kbps, self.rate)

    def reached(self, stitcher: Stitcher, filled: int) -> None:
        """The stitcher's samples reach `filled` (a multiple of its grid): cut, and send parts to the encoder."""
        samples = stitcher.samples
        self._target = mp3file.cut_until(samples, filled, self.cuts, self._target, self.share)
        if filled < EARLY_AFTER_S * self.rate:
            return
        ready = [k for k in range(len(self._early), len(self.cuts)) if self.cuts[k] + EARLY_LAG_S * self.rate <= filled]
        if ready:
            if self._gain_so_far is None or filled >= EARLY_REGAIN * self._gain_so_far[0]:
                self._gain_so_far = (filled, episode_gain(*stitcher.measured_so_far(), self.rate, self.aim,
                                                          self.ceiling_db))
            gain = self._gain_so_far[1]
            for k in ready:
                start = self.cuts[k - 1] if k else 0
                self._early[k] = (gain, None if self._encoder is None else
                                  self._encoder.submit(self._encode_early, samples, start, self.cuts[k], gain))

    def _encode_early(self, samples: Samples, start: int, end: int, gain_db: float
                      ) -> tuple[GainCurve, Path, loudness.LoudnessMeter]:
        with self.turn():  # a core the voice gives up for this part
            return self._encode_part_now(samples, start, end, gain_db)

    def _encode_part_now(self, samples: Samples, start: int, end: int, gain_db: float
                         ) -> tuple[GainCurve, Path, loudness.LoudnessMeter]:
        curve = loudness.limiter_curve_of_part(samples, self.rate, gain_db, self.ceiling_db, start, end)
        fd, name = tempfile.mkstemp(dir=self.work_dir, prefix=".part-", suffix=".mp3.tmp")
        os.close(fd)
        path = Path(name)
        self._files.append(path)
        gap = ffmpeg.encode_part_file(lambda a, b: curve.pieces(samples, a, b), start, end, False, self.rate,
                                      self.audio.bitrate_kbps, path)
        return curve, path, _checked_part(path, start, gap, self.rate, self.audio.true_peak_db)

    def finish(self, stitched: StitchedAudio, dest: Path) -> None:
        """The MP3 of the stitched episode at `dest`, checked (_encode_checked)."""
        samples, rate = stitched.samples, stitched.sample_rate
        self._target = mp3file.cut_until(samples, len(samples), self.cuts, self._target, self.share)  # the last cuts
        gain = episode_gain(stitched.loudness, stitched.blocks, rate, self.aim, self.ceiling_db)
        parts = PartCurves(samples, rate, [0, *self.cuts, len(samples)], gain, self.ceiling_db)
        taken: dict[int, tuple[Path, loudness.LoudnessMeter]] = {}
        for k, (early_gain, encoding) in self._early.items():
            if abs(early_gain - gain) > PART_GAIN_STEP_DB or any(
                    start < parts.bounds[k + 1] and end > parts.bounds[k] for start, end in stitched.changed):
                continue  # encoded at the episode's gain below, like the parts after it (or changed since)
            parts.gains[k] = early_gain
            if encoding is None:
                continue  # not begun: encoded below, at its early gain
            try:
                curve, path, meter = encoding.result()
            except mp3file.MP3FormatError:  # encoded again below (and, failing again, in one piece)
                continue
            parts.curves[k] = curve
            taken[k] = (path, meter)
        log.debug("%d part(s), %d at the gain so far, %d of them encoded before (%d kept), gain %+.2f dB",
                  len(parts.curves), len(self._early), sum(e is not None for _, e in self._early.values()), len(taken),
                  gain)
        # The parts a bed plays in first: the bed's noise makes the encoder overshoot most there (docs/speed.md).
        bedded = [k for start, end in stitched.bed for k in range(parts.part_of(start), parts.part_of(end - 1) + 1)]
        _encode_checked(samples, parts, rate, self.audio.bitrate_kbps, self.audio.true_peak_db,
                        self.audio.target_lufs, dest, stitched.timeline.duration, taken, bedded)

    def close(self) -> None:
        if self._encoder is not None:
            self._encoder.shutdown(wait=True, cancel_futures=True)
        for path in self._files:
            path.unlink(missing_ok=True)


class EpisodeAssembly:
    """assemble_episode() fed a clip at a time, in script order, as the voice speaks them (`add`), finished once
    they are all in (`finish`): the stitching, the metering and the MP3's first parts are done while the voice
    speaks the next ones (docs/speed.md). Use as a context manager: on failure, nothing it made is left behind."""

    def __init__(self, script: Script, config: Config, episode_dir: Path, slug: str, voice: str, engine: str,
                 rate: int, *, script_hash: str | None = None, encode_now: bool = True,
                 turn: Callable[[], AbstractContextManager] | None = None) -> None:
        """`rate`: the voice's, the rate of the clips that will come. `encode_now`: encode the first parts as
        soon as their gain is known (EpisodeParts), each inside a `turn` (CoreTurns.other: a core the voice gives
        up for it)."""
        check_audio_config(config)
        self.script, self.config, self.slug, self.voice, self.engine = script, config, slug, voice, engine
        self.script_hash = script_hash
        self.episode_dir = Path(episode_dir)
        self._created = not self.episode_dir.exists()
        self.episode_dir.mkdir(parents=True, exist_ok=True)
        audio = config.audio
        try:
            self.parts = EpisodeParts(audio.sample_rate, audio, self.episode_dir, encode_now, turn)
            self.stitcher = Stitcher(script, config, self.episode_dir, rate, int(GRID_SECONDS * audio.sample_rate),
                                     self.parts.reached)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> EpisodeAssembly:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def add(self, clip: Clip) -> None:
        self.stitcher.add(clip)

    def close(self) -> None:
        """Stop the early encoding, remove the working files (and the episode's folder, when this made it and
        nothing else is in it)."""
        if hasattr(self, "parts"):
            self.parts.close()
        if hasattr(self, "stitcher"):
            self.stitcher.close()
        if self._created and self.episode_dir.is_dir() and not any(self.episode_dir.iterdir()):
            self.episode_dir.rmdir()

    def finish(self) -> Episode:
        """Encode, tag and write the episode: `<slug>-<content hash>.mp3`, transcript.vtt, transcript.srt,
        chapters.json and episode.json. An MP3 already there is never rewritten: a new content gives a new name."""
        script, config, episode_dir, slug = self.script, self.config, self.episode_dir, self.slug
        stitched = self.stitcher.finish()
        timeline, samples = stitched.timeline, stitched.samples
        fd, tmp_name = tempfile.mkstemp(dir=episode_dir, prefix=f".{slug}.", suffix=".mp3.tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the MP3 is published
        try:
            assert isinstance(samples, SampleFile)  # stitched into the episode's folder
            with samples:
                try:
                    self.parts.finish(stitched, tmp)
                finally:
                    self.parts.close()  # no early part still reads the samples once their file is closed
            del samples, stitched
            write_tags(tmp, script, timeline, config)
            audio_bytes = tmp.stat().st_size
            audio_file = f"{slug}-{content_hash_of_file(tmp)}.mp3"
            final = episode_dir / audio_file
            if final.exists():  # same name = same bytes: the published file stays untouched
                tmp.unlink()
            else:
                os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

        files = write_transcripts(episode_dir, timeline, script, podcast_name=config.podcast.title,
                                  author=artist_name(script, config), audio_file=audio_file)
        files["episode"] = "episode.json"
        episode = Episode(
            slug=slug,
            directory=str(episode_dir),
            audio_file=audio_file,
            audio_bytes=audio_bytes,
            duration=timeline.duration,
            script_hash=self.script_hash or compute_script_hash(script, self.engine, self.voice),
            voice=self.voice,
            engine=self.engine,
            script=script,
            timeline=timeline,
            files=files,
        )
        atomic_write_text(episode_dir / "episode.json",
                          json.dumps(episode_to_dict(episode), ensure_ascii=False, indent=2) + "\n")
        log.info("%s: %s (%.1f s)", slug, audio_file, timeline.duration)
        return episode


def assemble_episode(script: Script, clips: Clips, config: Config, episode_dir: Path, slug: str,
                     voice: str, engine: str, *, script_hash: str | None = None) -> Episode:
    """Stitch, normalise, encode, tag and write one episode into `episode_dir` (created if needed), from all of
    its clips at once (EpisodeAssembly, fed them in script order).

    Writes `<slug>-<content hash>.mp3`, transcript.vtt, transcript.srt, chapters.json and episode.json.
    An MP3 already there is never rewritten: a new content gives a new file name.
    """
    check_audio_config(config)
    by_utterance, rate = _every_clip(script, clips)
    with EpisodeAssembly(script, config, episode_dir, slug, voice, engine, rate, script_hash=script_hash) as assembly:
        for utterance in script.utterances:
            assembly.add(by_utterance[utterance.index])
        return assembly.finish()


def meter_of_part(path: Path, start: int, gap: int, rate: int, watch: float | None = None) -> loudness.LoudnessMeter:
    """A part of the episode's MP3 (from sample `start`, followed by `gap` samples of silence that no part encodes)
    decoded as players decode it, into its own meter: the parts' meters are joined once all are made. `watch`: the
    true-peak level (linear) over which the meter notes where the peaks are."""
    meter = loudness.LoudnessMeter(rate, start=start, watch=watch)
    for block in mp3file.decoded_blocks(path):
        meter.add(block)
    meter.add(np.zeros(gap, dtype=np.float32))
    return meter


PEAK_CHECK_MARGIN_DB = 0.1  # an MP3's true peak is checked this far under the target (its own rounding's room)


def _checked_part(path: Path, start: int, gap: int, rate: int, true_peak_db: float) -> loudness.LoudnessMeter:
    """meter_of_part, noting the true peaks over the check's limit (the peak repair's work)."""
    return meter_of_part(path, start, gap, rate, db_to_gain(true_peak_db - PEAK_CHECK_MARGIN_DB))


def _encode_checked(samples: Samples, parts: PartCurves, rate: int, bitrate: int, true_peak_db: float,
                    target_lufs: float, dest: Path, duration: float,
                    taken: dict[int, tuple[Path, loudness.LoudnessMeter]], first: list[int] | None = None) -> None:
    """Encode (the gains applied piece by piece as the encoder reads), then measure the MP3 itself — what listeners
    get — and check that it lasts as long as the Timeline. Encoded in parts at once, one per core, cut in pauses
    (mp3file.py): LAME alone is a third of assembly. `taken`: parts encoded already (their MP3 and its meter);
    `first`: parts to encode before the others (PartedMP3.encode)."""

    def work(parted: ffmpeg.PartedMP3) -> None:
        meters: dict[int, loudness.LoudnessMeter] = {}
        if len(parted) == len(parts.curves):  # (not when the parts are given up for one piece)
            for k, (path, meter) in taken.items():
                parted.adopt(k, path)
                meters[k] = meter
        _encode_parts(samples, parts, parted, rate, true_peak_db, target_lufs, meters,
                      (first or []) if len(parted) == len(parts.curves) else [])

    ffmpeg.in_parts(len(samples), parts.bounds[1:-1], rate, bitrate, dest, work)
    length = mp3file.length_samples(dest)  # what players read from the file's header
    if length is None or abs(length / rate - duration) > DURATION_TOLERANCE_S:
        raise AudioEditionError(f"the MP3 lasts {(length or 0) / rate:.3f} s but the Timeline {duration:.3f} s")


def _encode_parts(samples: Samples, parts: PartCurves, parted: ffmpeg.PartedMP3, rate: int, true_peak_db: float,
                  target_lufs: float, meters: dict[int, loudness.LoudnessMeter], first: list[int]) -> None:
    """Encode the parts not in `meters` yet. Where the encoder pushed a true peak of a part over the limit, a short
    dip is added under that peak and the part is encoded again at once, in its own thread, while the others are
    still being encoded (PEAK_REPAIRS times at most): the loudness does not move. Only then, if the MP3 is still
    over the limit or off the loudness target, is the whole gain corrected and every part encoded again."""
    peak_limit = true_peak_db - PEAK_CHECK_MARGIN_DB
    repair_ceiling = db_to_gain(peak_limit - REPAIR_MARGIN_DB)

    def check(path: Path, start: int, gap: int) -> loudness.LoudnessMeter:
        return _checked_part(path, start, gap, rate, true_peak_db)

    def settle(k: int, meter: loudness.LoudnessMeter,
               again: Callable[[], loudness.LoudnessMeter]) -> loudness.LoudnessMeter:
        for _ in range(PEAK_REPAIRS):
            if not meter.overs or len(meter.overs) > MAX_REPAIRED_PEAKS:
                break
            parts.trim(meter.overs, repair_ceiling)  # (part k's curve alone: the peaks are all in it)
            log.debug("%d peak(s) over %.1f dBTP: part %d encoded again", len(meter.overs), peak_limit, k + 1)
            meter = again()
        return meter

    everything = range(len(parted))
    meters = parted.encode(parts.pieces, everything, check, workers=default_jobs(), settle=settle, encoded=meters,
                           first=first)
    corrections = 0
    while True:
        measured = loudness.LoudnessMeter.joined([meters[k] for k in everything])
        log.debug("MP3 (%d part(s)): %.2f LUFS, true peak %.2f dBTP", len(parted), measured.integrated_lufs,
                  measured.true_peak_dbtp)
        if measured.samples != len(samples):
            raise AudioEditionError(f"the MP3 decodes to {measured.samples} samples, not {len(samples)}")
        if not math.isfinite(measured.integrated_lufs):
            break
        if measured.true_peak_dbtp > peak_limit:
            change = peak_limit - measured.true_peak_dbtp - 0.2
        elif abs(target_lufs - measured.integrated_lufs) > LOUDNESS_TOLERANCE_LU:
            change = min(target_lufs - measured.integrated_lufs, peak_limit - measured.true_peak_dbtp - 0.2)
        else:
            break
        if abs(change) < 0.05 or corrections == 2:
            break
        corrections += 1
        parts.rescale(change)
        meters = parted.encode(parts.pieces, everything, check, workers=default_jobs(), settle=settle, first=first)
    parted.join()
    if math.isfinite(measured.integrated_lufs) and abs(measured.integrated_lufs - target_lufs) > 1.0:
        log.warning("episode loudness %.1f LUFS is off the %.1f LUFS target", measured.integrated_lufs, target_lufs)

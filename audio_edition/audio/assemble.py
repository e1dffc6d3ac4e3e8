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

import hashlib
import json
import logging
import math
import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_edition.audio import ffmpeg, loudness, mp3file, music, resample
from audio_edition.audio.loudness import GainCurve, Measurement, PeakMap, db_to_gain
from audio_edition.audio.samplefile import SampleFile, Samples, window
from audio_edition.audio.tags import artist_name, write_tags
from audio_edition.audio.transcripts import write_transcripts
from audio_edition.config import Config
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
# Peaks the encoder pushed over the limit get a dip this far under it, in the parts that hold them, this many
# times at most before the whole gain is lowered (which moves the loudness, and encodes every part again).
REPAIR_MARGIN_DB = 0.3
PEAK_REPAIRS = 2
MAX_REPAIRED_PEAKS = 1000  # more: the encoder overshoots everywhere, and lowering the whole gain is the fix
LOUDNESS_TOLERANCE_LU = 0.4  # we aim well inside the ±1 LU promise (re-encoding is not worth less)
ESTIMATE_TOLERANCE_LU = 0.01  # the limiter's estimate is solved this close (a step costs milliseconds)
PEAK_MAP_MARGIN_DB = 0.5  # the peak map covers gains this far over the estimate's (a correction's room)
DURATION_TOLERANCE_S = 0.05


@dataclass(frozen=True)
class StitchedAudio:
    samples: Samples  # mono float32 at `sample_rate`: an array, or a SampleFile (stitch's `directory`)
    sample_rate: int
    timeline: Timeline
    loudness: Measurement  # of `samples`, measured while they were stitched


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


def stitch(script: Script, clips: Clips, config: Config, directory: Path | None = None) -> StitchedAudio:
    """Lay the clips and their pauses end to end (plus jingles) and record where everything lands. `directory`:
    the episode's samples go into a SampleFile there instead of an array (a long episode is not held in memory);
    `clips` may then be a ClipSpool, whose clips are read from its file one at a time, twice."""
    by_utterance = clips if isinstance(clips, Mapping) else {clip.utterance: clip for clip in clips}
    missing = [u.index for u in script.utterances if u.index not in by_utterance]
    if missing:
        raise AudioEditionError(f"no audio for utterance {missing[0]} ({len(missing)} missing)", "rebuild the episode")
    if not script.utterances:
        raise InputError(f"nothing to read in “{script.article.title}”")

    out_rate = config.audio.sample_rate
    # Work at the voice's own rate (one resampling of the whole track at the end, not one per clip).
    rates = getattr(by_utterance, "sample_rates", None) or Counter(c.sample_rate for c in by_utterance.values())
    rate = rates.most_common(1)[0][0]
    # First where everything goes; then the clips are read again and streamed through the resampler.
    placed: list[tuple[int, int, int]] = []  # (where the clip's speech starts and ends in it, pause after it)
    positions: dict[int, tuple[int, int]] = {}  # utterance index -> (start, end) in samples at `rate`
    cursor = 0
    keep = int(TRIM_KEEP_S * rate)
    for utterance in script.utterances:
        clip_samples = _clip_at(by_utterance[utterance.index], rate)
        start, end = _speech_bounds(clip_samples)
        start, end = (max(0, start - keep), min(len(clip_samples), end + keep)) if end > start else (0, 0)
        pause = int(round(max(0, utterance.pause_after_ms) * rate / 1000))
        positions[utterance.index] = (cursor, cursor + end - start)
        placed.append((start, end, pause))
        cursor += end - start + pause

    def speech_then_pause():
        """The episode's speech at `rate`, clip by clip: made as the resampler reads it, never held whole."""
        silence = np.zeros(max((p for _, _, p in placed), default=0) + 1, dtype=np.float32)
        for utterance, (start, end, pause) in zip(script.utterances, placed):
            speech = _clip_at(by_utterance[utterance.index], rate)[start:end]
            yield _fade(np.clip(np.nan_to_num(to_float32(speech)), -1.0, 1.0), rate)
            if pause:
                yield silence[:pause]

    intro = _load_jingle(config, config.audio.jingle_intro, "jingle intro", out_rate)
    outro = _load_jingle(config, config.audio.jingle_outro, "jingle outro", out_rate)
    bed_path = config.resolve(config.audio.music_bed)
    bed = music.load_audio(bed_path, out_rate, "music bed") if bed_path is not None else None
    bed_lead = int(config.audio.bed_lead_s * out_rate) if bed is not None else 0  # the bed alone, before and after
    head = [intro, np.zeros(int(JINGLE_GAP_S * out_rate), dtype=np.float32)] if intro is not None else []
    if bed_lead:
        head.append(np.zeros(bed_lead, dtype=np.float32))
    head_length = sum(len(p) for p in head)
    speech_length = resample.resampled_length(cursor, rate, out_rate)
    tail_length = bed_lead + (len(outro) if outro is not None else 0)
    length = head_length + speech_length + tail_length
    # Pad with silence to a whole number of 10 ms (441 samples at 44.1 kHz): the duration is then exact in milliseconds,
    # so no Timeline time (rounded to the ms) can fall after the last sample.
    length += -length % (out_rate // 100)
    samples: Samples = np.zeros(length, dtype=np.float32) if directory is None else SampleFile(length, directory)
    try:
        with loudness.MeasureAsFilled(samples, out_rate) as measure:  # the loudness is measured as samples land
            if head:
                samples[:head_length] = np.concatenate(head)
            measure.filled(head_length)
            speech = window(samples, head_length, head_length + speech_length)
            resample.resample_pieces(speech_then_pause(), cursor, rate, out_rate, into=speech,
                                     on_filled=lambda done: measure.filled(head_length + done))
            if outro is not None:
                samples[head_length + speech_length + bed_lead: head_length + speech_length + tail_length] = outro
            measured = measure.result()
        offset = head_length / out_rate
        duration = len(samples) / out_rate

        def at(sample: int) -> float:
            return round(offset + sample / rate, 3)

        utterance_spans = tuple(
            Span(u.index, at(positions[u.index][0]), at(positions[u.index][1]), u.text) for u in script.utterances
        )
        timeline = _timeline(script, utterance_spans, round(duration, 3))
        if bed is not None:
            speech_spans = [(round(span.start * out_rate), round(span.end * out_rate)) for span in utterance_spans]
            voice_db = music.level_db_of_spans(samples, speech_spans)
            spans = _bed_spans(script, timeline, out_rate, bed_lead, int(config.audio.bed_fade_s * out_rate),
                               len(samples))
            music.mix_bed(samples, out_rate, bed, spans, config.audio, voice_db)
            measured = loudness.measure(GainCurve().pieces(samples), out_rate)  # the bed changed the loudness
    except BaseException:
        if isinstance(samples, SampleFile):
            samples.close()
        raise
    return StitchedAudio(samples, out_rate, timeline, measured)


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
def normalize_loudness(samples: Samples, rate: int, target_lufs: float, true_peak_db: float,
                       measured: Measurement | None = None) -> GainCurve:
    """The whole-episode gain to `target_lufs`, with the limiter keeping true peaks under `true_peak_db` (minus
    a margin for the MP3 encoder) where the gain would push them over. Length and timing are unchanged.

    Limiting takes some loudness away, the more the harder it works. The gain is first found on an estimate of
    the limiter's loss (loudness.estimate_limited: milliseconds a trial); the exact curve is then made and the
    limited signal measured, normally once; if the measure misses, the estimate is aimed that much the other way
    and the next gain found on it. Every curve is computed from the original samples (never limiting twice).
    `measured`: the samples' own measure, when it is known already (stitch() makes it).
    """
    ceiling_db = true_peak_db - MP3_PEAK_MARGIN_DB
    first = measured if measured is not None and len(measured.steps) else loudness.measure(
        GainCurve().pieces(samples), rate)
    log.debug("episode before: %.2f LUFS, true peak %.2f dBTP", first.integrated_lufs, first.true_peak_dbtp)
    if not math.isfinite(first.integrated_lufs):
        return GainCurve()  # silence (or too short to gate): nothing to normalise
    gain = target_lufs - first.integrated_lufs
    if first.true_peak_dbtp + gain <= ceiling_db:  # a plain gain: the result is known without measuring again
        return GainCurve(scale=db_to_gain(gain))
    blocks = loudness.BlockPeaks.of(samples, rate)
    aim, peaks, curve = target_lufs, None, GainCurve()
    for _ in range(4):  # one pass, two when the estimate is off by more than the tolerance
        gain = _estimated_gain(first.steps, blocks, rate, gain, ceiling_db, aim)
        if peaks is None or peaks.floor > db_to_gain(ceiling_db - gain):
            # the peaks that this gain (and a correction of up to PEAK_MAP_MARGIN_DB more) pushes over, found once
            peaks = PeakMap.find(samples, db_to_gain(ceiling_db - gain - PEAK_MAP_MARGIN_DB))
        curve = loudness.limiter_curve(samples, rate, gain, ceiling_db, peaks)
        measured = loudness.measure(curve.pieces(samples), rate, true_peak=False)
        miss = measured.integrated_lufs - target_lufs
        log.debug("gain %+.2f dB + limiter (%d regions): %.2f LUFS", gain, len(curve.regions),
                  measured.integrated_lufs)
        if abs(miss) <= LOUDNESS_TOLERANCE_LU / 2:
            break
        aim -= miss  # the estimate was off by this much at this gain: aim it as far the other way
    return curve  # the MP3 made with it is measured again in _encode_checked


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


def assemble_episode(script: Script, clips: Clips, config: Config, episode_dir: Path, slug: str,
                     voice: str, engine: str, *, script_hash: str | None = None) -> Episode:
    """Stitch, normalise, encode, tag and write one episode into `episode_dir` (created if needed).

    Writes `<slug>-<content hash>.mp3`, transcript.vtt, transcript.srt, chapters.json and episode.json.
    An MP3 already there is never rewritten: a new content gives a new file name.
    """
    check_audio_config(config)
    episode_dir = Path(episode_dir)
    created = not episode_dir.exists()
    episode_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _assemble_into(script, clips, config, episode_dir, slug, voice, engine, script_hash)
    except BaseException:
        if created and not any(episode_dir.iterdir()):  # a failed first build leaves no empty folder behind
            episode_dir.rmdir()
        raise


def _assemble_into(script: Script, clips: Clips, config: Config, episode_dir: Path, slug: str,
                   voice: str, engine: str, script_hash: str | None) -> Episode:
    audio_cfg = config.audio
    stitched = stitch(script, clips, config, directory=episode_dir)  # the samples in a file there, not in memory
    # Aim so that the MP3 (not our samples) is on target: the encoder changes the level a little.
    out_rate = stitched.sample_rate
    codec_db = ffmpeg.mp3_gain_db(audio_cfg.bitrate_kbps, out_rate)
    # (The peak ceiling is not moved: the encoder's overshoot on peaks is larger than its level change.)
    timeline, samples, measured = stitched.timeline, stitched.samples, stitched.loudness
    del stitched

    fd, tmp_name = tempfile.mkstemp(dir=episode_dir, prefix=f".{slug}.", suffix=".mp3.tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the MP3 is published
    try:
        assert isinstance(samples, SampleFile)  # stitch was given a directory
        with samples:
            gain = normalize_loudness(samples, out_rate, audio_cfg.target_lufs - codec_db, audio_cfg.true_peak_db,
                                      measured)
            _encode_checked(samples, gain, out_rate, audio_cfg.bitrate_kbps, audio_cfg.true_peak_db,
                            audio_cfg.target_lufs, tmp, timeline.duration)
        del samples
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
        script_hash=script_hash or compute_script_hash(script, engine, voice),
        voice=voice,
        engine=engine,
        script=script,
        timeline=timeline,
        files=files,
    )
    atomic_write_text(episode_dir / "episode.json",
                      json.dumps(episode_to_dict(episode), ensure_ascii=False, indent=2) + "\n")
    log.info("%s: %s (%.1f s)", slug, audio_file, timeline.duration)
    return episode


def meter_of_part(path: Path, start: int, gap: int, rate: int, watch: float | None = None) -> loudness.LoudnessMeter:
    """A part of the episode's MP3 (from sample `start`, followed by `gap` samples of silence that no part encodes)
    decoded as players decode it, into its own meter: the parts' meters are joined once all are made. `watch`: the
    true-peak level (linear) over which the meter notes where the peaks are."""
    meter = loudness.LoudnessMeter(rate, start=start, watch=watch)
    for block in mp3file.decoded_blocks(path):
        meter.add(block)
    meter.add(np.zeros(gap, dtype=np.float32))
    return meter


def _encode_checked(samples: Samples, gain: GainCurve, rate: int, bitrate: int, true_peak_db: float,
                    target_lufs: float, dest: Path, duration: float) -> None:
    """Encode (the gain applied piece by piece as the encoder reads), then measure the MP3 itself — what listeners
    get — and check that it lasts as long as the Timeline. Encoded in parts at once, one per core, cut in pauses
    (mp3file.py): LAME alone is a third of assembly."""
    cuts = mp3file.cut_points(samples, mp3file.part_count(len(samples), rate))
    ffmpeg.in_parts(len(samples), cuts, rate, bitrate, dest,
                    lambda parted: _encode_parts(samples, gain, parted, rate, true_peak_db, target_lufs))
    length = mp3file.length_samples(dest)  # what players read from the file's header
    if length is None or abs(length / rate - duration) > DURATION_TOLERANCE_S:
        raise AudioEditionError(f"the MP3 lasts {(length or 0) / rate:.3f} s but the Timeline {duration:.3f} s")


def _encode_parts(samples: Samples, gain: GainCurve, parted: ffmpeg.PartedMP3, rate: int, true_peak_db: float,
                  target_lufs: float) -> None:
    """Where the encoder pushed a true peak over the limit, a short dip is added under that peak and only the
    parts that hold one are encoded again (PEAK_REPAIRS rounds at most): the loudness does not move. Only then, if
    the MP3 is still over the limit or off the loudness target, is the whole gain corrected and every part
    encoded again."""
    peak_limit = true_peak_db - 0.1
    watch = db_to_gain(peak_limit)

    def read(start: int, stop: int):
        return gain.pieces(samples, start, stop)

    def check(path: Path, start: int, gap: int) -> loudness.LoudnessMeter:
        return meter_of_part(path, start, gap, rate, watch)

    everything = range(len(parted))
    meters = parted.encode(read, everything, check, workers=default_jobs())
    repairs = corrections = 0
    while True:
        measured = loudness.LoudnessMeter.joined([meters[k] for k in everything])
        log.debug("MP3 (%d part(s)): %.2f LUFS, true peak %.2f dBTP", len(parted), measured.integrated_lufs,
                  measured.true_peak_dbtp)
        if measured.samples != len(samples):
            raise AudioEditionError(f"the MP3 decodes to {measured.samples} samples, not {len(samples)}")
        if not math.isfinite(measured.integrated_lufs):
            break
        overs = [over for k in everything for over in meters[k].overs]
        if overs and repairs < PEAK_REPAIRS and len(overs) <= MAX_REPAIRED_PEAKS:
            repairs += 1
            gain.trim(overs, db_to_gain(peak_limit - REPAIR_MARGIN_DB), rate)
            redo = {parted.part_of(position) for position, _ in overs}
            log.debug("%d peak(s) over %.1f dBTP: part(s) %s encoded again", len(overs), peak_limit,
                      sorted(k + 1 for k in redo))
            meters.update(parted.encode(read, redo, check, workers=default_jobs()))
            continue
        if measured.true_peak_dbtp > peak_limit:
            change = peak_limit - measured.true_peak_dbtp - 0.2
        elif abs(target_lufs - measured.integrated_lufs) > LOUDNESS_TOLERANCE_LU:
            change = min(target_lufs - measured.integrated_lufs, peak_limit - measured.true_peak_dbtp - 0.2)
        else:
            break
        if abs(change) < 0.05 or corrections == 2:
            break
        corrections += 1
        gain.scale *= db_to_gain(change)
        meters = parted.encode(read, everything, check, workers=default_jobs())
    parted.join()
    if math.isfinite(measured.integrated_lufs) and abs(measured.integrated_lufs - target_lufs) > 1.0:
        log.warning("episode loudness %.1f LUFS is off the %.1f LUFS target", measured.integrated_lufs, target_lufs)

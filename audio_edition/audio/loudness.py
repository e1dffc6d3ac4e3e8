"""Loudness (ITU-R BS.1770-4 / EBU R128) and true peak, measured in this process, and the true-peak limiter.

Why not ffmpeg's `ebur128` filter (used before): it oversamples the whole episode 4x to find the true peak, 2.3 s
per 10 minutes of audio, and a build measured up to four times. Here the K-weighted loudness is one scipy filter
pass (0.3 s for 10 minutes at 44.1 kHz), and the true peak is interpolated only around the samples that can
hold it: those within 3.5 dB of the peak. Between two samples, a band-limited signal can rise over the larger of
them by at most 1/cos(pi f / rate) — 3.01 dB at a quarter of the rate — and our speech stops at the voice's
Nyquist (11.025 kHz for the usual 22.05 kHz voices: a quarter of 44.1 kHz). Everything works on chunks, so no
whole-episode copy is made (a 30-minute episode is 300 MB per float32 copy). tests/test_loudness.py checks both
measures against ffmpeg's ebur128.

The limiter is a look-ahead gain curve computed only where the gained signal would pass the ceiling: the needed
gain per sample is held for HOLD_S after each peak, then smoothed over ATTACK_S; smoothing a running minimum with
a window no longer than the minimum's reach can only lower the gain, so no sample is left over the ceiling.
"""

from __future__ import annotations

import bisect
import dataclasses
import importlib
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from audio_edition.audio.samplefile import ReadableSamples, SampleFile, Samples, window

_WARMED = False


def warm_up(then: Callable[[], object] | None = None) -> None:
    """Start importing scipy's filters in a background thread (scipy.signal is slow to import; once per process),
    then run `then` there (assemble.warm_up_assembly)."""
    global _WARMED
    imports, _WARMED = not _WARMED, True
    if not imports and then is None:
        return

    def load() -> None:
        try:
            for module in ("soundfile", "scipy.ndimage", "scipy.signal") if imports else ():
                importlib.import_module(module)
            if then is not None:
                then()
        except Exception:  # the real call, later, reports it
            pass

    threading.Thread(target=load, name="warm up assembly", daemon=True).start()


CHUNK = 1 << 18  # samples per step (~6 s at 44.1 kHz): small buffers, numpy still efficient
OVERSAMPLE = 4  # BS.1770-4 Annex 2: 4x for 48 kHz and below
CANDIDATE_MARGIN_DB = 3.5  # true peaks are looked for only around samples this close to the peak (see above)
TAPS = 8  # samples each side in the interpolation (windowed sinc; BS.1770-4's own filter has 6)
KAISER_BETA = 5.0
EDGE = TAPS + 1  # a sample needs this many neighbours each side before its true peak can be measured
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
ATTACK_S = 0.005  # the gain starts going down this long before a peak (look-ahead) ...
HOLD_S = 0.040  # ... stays down this long after it, then comes back up over ATTACK_S
ESTIMATE_BLOCK = 64  # samples at most per block of the limiter's estimate (BlockPeaks)
ESTIMATE_CHUNK_BLOCKS = 1 << 16  # blocks per pass of the estimate (~1.5 minutes at 44.1 kHz)
STRETCH_BATCH = 1 << 16  # samples of limited stretches per pass (~1.5 s at 44.1 kHz): 512 kB float64 arrays


@dataclass(frozen=True)
class Measurement:
    integrated_lufs: float  # -inf for silence (nothing above the absolute gate)
    true_peak_dbtp: float  # -inf for digital silence
    samples: int
    # the mean square of each 100 ms step of the K-weighted signal (what the loudness is gated from): a limiter's
    # loss at a trial gain is estimated from them (estimate_limited)
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)


def db_to_gain(db: float) -> float:
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


def k_weighting(rate: int) -> np.ndarray:
    """BS.1770's K-weighting (high-shelf pre-filter, then RLB high-pass) as second-order sections for `rate`.

    The standard gives the coefficients at 48 kHz; these are the same analogue filters (f0, Q, gain from the
    standard's 48 kHz design) brought to any rate by the bilinear transform, as libebur128 does.
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def _interpolation_kernel() -> np.ndarray:
    """Windowed-sinc weights (Kaiser) giving the points 0.25, 0.5 and 0.75 of the way from sample i to i+1, from
    the samples i-TAPS+1 .. i+TAPS: shape (2 * TAPS, 3), each column summing to 1."""
    offsets = np.arange(-TAPS + 1, TAPS + 1, dtype=np.float64)[:, None]
    t = (np.arange(1, OVERSAMPLE) / OVERSAMPLE)[None, :] - offsets
    window = np.i0(KAISER_BETA * np.sqrt(np.clip(1.0 - (t / TAPS) ** 2, 0.0, 1.0))) / np.i0(KAISER_BETA)
    kernel = np.sinc(t) * window
    return (kernel / kernel.sum(axis=0, keepdims=True)).astype(np.float32)


_KERNEL = _interpolation_kernel()
# the same weights around one sample i, for the three points before it and the three after: (2 * TAPS + 1, 6)
_KERNEL_AROUND = np.zeros((2 * TAPS + 1, 6), dtype=np.float32)
_KERNEL_AROUND[:-1, :3] = _KERNEL  # interval (i-1, i): samples i-TAPS .. i+TAPS-1
_KERNEL_AROUND[1:, 3:] = _KERNEL  # interval (i, i+1): samples i-TAPS+1 .. i+TAPS
_KERNEL_AROUND_ROWS = np.ascontiguousarray(_KERNEL_AROUND.T)  # (6, 2 * TAPS + 1)
LONG_RUN = 256  # a run of indices this long is interpolated by correlation, shorter ones one by one


def true_peaks_at(samples: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """For each index i (sorted), the largest magnitude of the signal 4x oversampled (BS.1770-4 Annex 2) from
    0.75 sample before i to 0.75 sample after it, the sample itself included. Outside the array is silence."""
    indices = np.asarray(indices, dtype=np.int64)
    peaks = np.abs(samples[indices]).astype(np.float32)
    if len(indices) == 0:
        return peaks
    breaks = np.flatnonzero(np.diff(indices) > 2 * TAPS) + 1
    bounds = np.concatenate([[0], breaks, [len(indices)]]).astype(np.int64)
    long_runs = np.flatnonzero(indices[bounds[1:] - 1] - indices[bounds[:-1]] >= LONG_RUN)
    alone = np.ones(len(indices), dtype=bool)
    for run_number in long_runs:  # dense stretches: three correlations over the whole stretch
        first, end = bounds[run_number], bounds[run_number + 1]
        alone[first:end] = False
        run = indices[first:end]
        j0 = int(run[0]) - 1  # intervals (j, j+1) from one sample before the run to its last sample
        segment = _slice_with_silence(samples, j0 - TAPS + 1, int(run[-1]) + TAPS + 1)
        between = np.abs(np.correlate(segment, _KERNEL[:, 0], "valid"))
        for phase in (1, 2):
            np.maximum(between, np.abs(np.correlate(segment, _KERNEL[:, phase], "valid")), out=between)
        at = run - j0  # the interval after each index; the one before is at - 1
        peaks[first:end] = np.maximum(peaks[first:end], np.maximum(between[at], between[at - 1]))
    scattered = np.flatnonzero(alone)
    for first in range(0, len(scattered), 1 << 15):  # the others: their neighbours gathered, 32768 at a time
        positions = scattered[first: first + (1 << 15)]
        peaks[positions] = np.maximum(peaks[positions], _interpolated_around(samples, indices[positions]))
    return peaks


def _interpolated_around(samples: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """For each index i (sorted), the largest magnitude of the six 4x-oversampled points from 0.75 sample
    before i to 0.75 sample after it. Each index's 2 * TAPS + 1 neighbours are gathered as one row of a
    sliding window (no index array per neighbour), and the six points come out as six rows: the largest is
    then taken across rows, which numpy does far faster than along short ones."""
    lo, hi = int(indices[0]) - TAPS, int(indices[-1]) + TAPS + 1
    # (only indices within TAPS of either end need the silence around the signal: a copy of a short stretch)
    span = samples[lo:hi] if lo >= 0 and hi <= len(samples) else _slice_with_silence(samples, lo, hi)
    rows = sliding_window_view(span.astype(np.float32, copy=False), 2 * TAPS + 1)[indices - int(indices[0])]
    points = _KERNEL_AROUND_ROWS @ rows.T
    return np.abs(points, out=points).max(axis=0)


def _slice_with_silence(samples: ReadableSamples, lo: int, hi: int) -> np.ndarray:
    """samples[lo:hi] as float32, with zeros where lo:hi goes past either end."""
    segment = samples[max(0, lo): min(len(samples), hi)].astype(np.float32, copy=False)
    if lo < 0 or hi > len(samples):
        segment = np.concatenate([np.zeros(max(0, -lo), np.float32), segment,
                                  np.zeros(max(0, hi - len(samples)), np.float32)])
    return segment


class LoudnessMeter:
    """Integrated loudness (gated, BS.1770-4) and true peak of a mono signal fed in pieces with `add`."""

    def __init__(self, rate: int, true_peak: bool = True, start: int = 0, watch: float | None = None) -> None:
        """`start`: where this meter's signal starts in a longer one whose other parts other meters measure
        (joined() then gives the measure of the whole; the filter starts at rest, so cut in a pause).
        `watch`: a level (linear, with `true_peak`): every sample whose true peak is over it is kept in `overs`,
        as (position in the longer signal, true peak)."""
        self.rate = rate
        self.true_peak = true_peak  # off: loudness only (a limiter's trial gains need no more)
        self.start = start
        self.watch = watch
        self.overs: list[tuple[int, float]] = []
        self._finished = False
        self._sos = k_weighting(rate).astype(np.float32)
        self._state = np.zeros((2, 2), dtype=np.float32)
        self._step = step_of(rate)
        # The 100 ms steps are counted from the start of the whole signal: the samples of this meter's first step
        # that belong to the part before count as silence here, and as themselves in the meter before.
        self._lead = start % self._step
        self._partial = np.zeros(self._lead, dtype=np.float32)
        self._steps: list[np.ndarray] = []  # mean square of each 100 ms step
        # the last 2 * EDGE samples: the first half was measured, the second waits for the context after it
        self._tail = np.zeros(2 * EDGE, dtype=np.float32)
        self._peak = 0.0
        self.samples = 0

    def add(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32)
        if len(samples) == 0:
            return
        origin = self.start + self.samples - 2 * EDGE  # where the piece below starts in the longer signal
        self.samples += len(samples)
        self._add_power(samples)
        if self.true_peak:
            piece = np.concatenate([self._tail, samples])
            self._track_peak(piece, EDGE, len(piece) - EDGE, origin)
            self._tail = piece[-2 * EDGE:]

    def _add_power(self, samples: np.ndarray) -> None:
        """K-weight the samples and add their mean squares, step by step (float32 filtering: the MP3 check runs
        beside LAME, and float32 is half float64's memory traffic; the loudness moves by ~1e-5 dB)."""
        # lazy: scipy.signal takes ~1 s to import; the build makes its meters before the voice speaks and imports
        # it in a thread meanwhile (warm_up): the first piece measured waits for it, not the voice
        from scipy.signal import sosfilt

        power, self._state = sosfilt(self._sos, samples, zi=self._state)
        np.square(power, out=power)
        if len(self._partial):  # first finish the step the last piece left open
            missing = self._step - len(self._partial)
            self._partial = np.concatenate([self._partial, power[:missing]])
            power = power[missing:]
            if len(self._partial) < self._step:
                return
            self._steps.append(np.array([self._partial.sum(dtype=np.float64) / self._step]))
            self._partial = np.zeros(0, dtype=np.float32)
        whole = len(power) // self._step * self._step
        if whole:
            self._steps.append(power[:whole].reshape(-1, self._step).sum(axis=1, dtype=np.float64) / self._step)
        self._partial = power[whole:].copy()

    def _track_peak(self, piece: np.ndarray, lo: int, hi: int, origin: int) -> None:
        magnitude = np.abs(piece[lo:hi])
        sample_peak = float(magnitude.max(initial=0.0))
        reach = sample_peak * db_to_gain(CANDIDATE_MARGIN_DB)  # no true peak of the piece can rise over this
        # Far under the peak so far, a piece cannot raise it (inter-sample overshoot stays under the margin).
        raises_peak = sample_peak > 0 and reach > self._peak
        watch = self.watch if self.watch is not None and reach > self.watch else None
        if not raises_peak and watch is None:
            return
        # One set of candidates for both: the samples near the piece's own peak, and those near the watch level.
        floors = ([max(sample_peak, self._peak)] if raises_peak else []) + ([watch] if watch is not None else [])
        hits = lo + np.flatnonzero(magnitude >= min(floors) * db_to_gain(-CANDIDATE_MARGIN_DB))
        peaks = true_peaks_at(piece, hits)
        if raises_peak:
            self._peak = max(self._peak, float(peaks.max()))
        if watch is not None:
            over = peaks > watch
            self.overs.extend(zip((origin + hits[over]).tolist(), peaks[over].tolist()))

    def _finish_peak(self) -> float:
        """The true peak, the last EDGE samples measured with the silence that follows the signal as context."""
        if self.true_peak and not self._finished:  # once: the last samples' context is the silence after them
            self._finished = True
            end = np.concatenate([self._tail, np.zeros(EDGE, dtype=np.float32)])
            self._track_peak(end, EDGE, 2 * EDGE, self.start + self.samples - 2 * EDGE)
        return gain_to_db(self._peak) if self.true_peak else math.nan

    def so_far(self) -> Measurement:
        """The measure of what was added until now, without closing the meter (more may be added after): the
        true peak leaves out the last EDGE samples, whose context is not in yet."""
        steps = np.concatenate(self._steps) if self._steps else np.zeros(0)
        return _gated(steps, gain_to_db(self._peak) if self.true_peak else math.nan, self.samples)

    def result(self) -> Measurement:
        """The measure so far (true peak: nan when the meter was made without it)."""
        true_peak = self._finish_peak()
        return _gated(np.concatenate(self._steps) if self._steps else np.zeros(0), true_peak, self.samples)

    @staticmethod
    def joined(meters: list[LoudnessMeter]) -> Measurement:
        """The measure of a signal whose consecutive parts these meters measured (each made with the `start` of
        its part): the steps across each join are put together, then gated as one signal."""
        steps: list[np.ndarray] = []
        carried: np.ndarray = np.zeros(0)  # power of the samples of the step left unfinished by the meter before
        end = meters[0].start
        for meter in meters:
            if meter.start != end:
                raise ValueError(f"a meter starts at {meter.start}, not where the one before ends ({end})")
            end = meter.start + meter.samples
            own = np.concatenate(meter._steps) if meter._steps else np.zeros(0)
            partial = meter._partial
            if len(carried):
                if len(own):
                    own = own.copy()
                    own[0] += carried.sum(dtype=np.float64) / meter._step
                else:
                    partial = np.concatenate([carried, partial[meter._lead:]])
            steps.append(own)
            carried = partial
        peaks = [meter._finish_peak() for meter in meters]
        return _gated(np.concatenate(steps), max(peaks), sum(meter.samples for meter in meters))


def step_of(rate: int) -> int:
    """Samples in a 100 ms step: gating blocks are 400 ms, every 100 ms (75 % overlap)."""
    return max(1, int(round(rate / 10)))


def _gated(steps: np.ndarray, true_peak: float, samples: int) -> Measurement:
    """Integrated loudness (BS.1770-4 gating) from the mean squares of the K-weighted signal's 100 ms steps."""
    if len(steps) < 4:
        return Measurement(-math.inf, true_peak, samples, steps)
    blocks = (steps[:-3] + steps[1:-2] + steps[2:-1] + steps[3:]) / 4.0
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10.0 * np.log10(blocks)
    gated = blocks[loudness > ABSOLUTE_GATE_LUFS]
    if len(gated) == 0:
        return Measurement(-math.inf, true_peak, samples, steps)
    relative = -0.691 + 10.0 * math.log10(gated.mean()) + RELATIVE_GATE_LU
    kept = gated[-0.691 + 10.0 * np.log10(gated) > relative]
    return Measurement(-0.691 + 10.0 * math.log10(kept.mean()), true_peak, samples, steps)


def measure(pieces: Iterable[np.ndarray], rate: int, true_peak: bool = True) -> Measurement:
    """Loudness and true peak of a signal given as consecutive pieces (an array is one piece)."""
    meter = LoudnessMeter(rate, true_peak)
    for piece in ([pieces] if isinstance(pieces, np.ndarray) else pieces):
        meter.add(piece)
    return meter.result()


@dataclass(frozen=True)
class LimiterStretch:
    """Where the limiter lowers the gain: samples [start, stop), their gains (float16) stored in a file beside
    the episode's samples (two bytes a sample for half of a real voice's episode: not held in memory)."""

    start: int
    stop: int
    stored: SampleFile

    def gains(self, lo: int | None = None, hi: int | None = None) -> np.ndarray:
        """The gains of samples [lo, hi) within the stretch (the whole stretch by default)."""
        lo = self.start if lo is None else max(lo, self.start)
        hi = self.stop if hi is None else min(hi, self.stop)
        return self.stored[lo - self.start: hi - self.start]


@dataclass
class GainCurve:
    """A gain for a whole signal: `scale` everywhere, times `regions` (sorted, not overlapping) where the limiter
    works. Applied piece by piece: the limited episode is never held as a second whole array."""

    scale: float = 1.0
    regions: list[LimiterStretch] = field(default_factory=list)
    # short dips (start sample, gains <= 1) over the regions, where the MP3 encoder pushed a peak over: they may
    # overlap each other (each multiplies), and are few
    trims: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def apply(self, piece: np.ndarray, offset: int) -> np.ndarray:
        """`piece` (the signal's samples from `offset`) with the gain applied, as a new float32 array."""
        out = np.multiply(piece, np.float32(self.scale), dtype=np.float32)
        end = offset + len(piece)
        first = bisect.bisect_right(self.regions, offset, key=lambda region: region.stop)
        for region in self.regions[first:]:
            if region.start >= end:
                break
            lo, hi = max(region.start, offset), min(region.stop, end)
            out[lo - offset: hi - offset] *= region.gains(lo, hi)
        for start, gains in self.trims:
            lo, hi = max(start, offset), min(start + len(gains), end)
            if lo < hi:
                out[lo - offset: hi - offset] *= gains[lo - start: hi - start]
        return out

    def trim(self, overs: Iterable[tuple[int, float]], ceiling: float, rate: int) -> None:
        """Add a dip at each (position, peak): down to `ceiling` / peak, reached ATTACK_S before the position and
        held until HOLD_S / 2 after it, with ATTACK_S ramps on both sides (the limiter's shape, shorter: these
        dips take a fraction of a dB off a few peaks)."""
        attack = max(1, int(round(ATTACK_S * rate)))
        hold = max(1, int(round(HOLD_S / 2 * rate)))
        ramp = (0.5 + 0.5 * np.cos(np.linspace(0.0, math.pi, attack + 1)))[1:]  # 1 -> 0, without the 1
        for position, peak in overs:
            depth = min(1.0, ceiling / peak)
            if depth >= 1.0:
                continue
            shape = np.concatenate([depth + (1 - depth) * ramp,  # down: 1 -> depth, then up again
                                    np.full(attack + hold, depth), depth + (1 - depth) * ramp[::-1]])
            start = position - 2 * attack
            if start < 0:
                shape, start = shape[-start:], 0
            self.trims.append((start, shape.astype(np.float32)))

    def pieces(self, samples: Samples, start: int = 0, stop: int | None = None,
               size: int = CHUNK) -> Iterator[np.ndarray]:
        """samples[start:stop] with the gain applied, `size` samples at a time."""
        stop = len(samples) if stop is None else min(stop, len(samples))
        for offset in range(start, stop, size):
            yield self.apply(samples[offset: min(offset + size, stop)], offset)


@dataclass(frozen=True)
class PeakMap:
    """The samples of a signal whose true peak reaches `floor` or more, with those true peaks: found once, used
    by every trial gain of the limiter. Kept in files where the samples are (a peaky voice's map is some 2 MB per
    minute), read back a chunk of the signal at a time."""

    floor: float
    _indices: SampleFile  # int64
    _peaks: SampleFile  # float32
    _bounds: list[int]  # the entries of chunk k (samples k * CHUNK onwards) are _bounds[k]:_bounds[k + 1]

    @classmethod
    def find(cls, samples: Samples, floor: float) -> PeakMap:
        """Chunk by chunk (each read with the EDGE samples around it that its true peaks need), two chunks at
        once: numpy's correlations and products release the GIL, and the synthesis threads have stopped."""
        threshold = floor * db_to_gain(-CANDIDATE_MARGIN_DB)  # a true peak over `floor` sits by such a sample

        def in_chunk(offset: int) -> tuple[np.ndarray, np.ndarray]:
            size = min(CHUNK, len(samples) - offset)
            segment = _slice_with_silence(samples, offset - EDGE, offset + size + EDGE)
            hits = EDGE + np.flatnonzero(np.abs(segment[EDGE: EDGE + size]) >= threshold)
            peaks = true_peaks_at(segment, hits)
            keep = peaks >= floor
            return offset - EDGE + hits[keep], peaks[keep]

        directory = getattr(samples, "directory", None)
        found = cls(floor, SampleFile(0, directory, np.int64), SampleFile(0, directory, np.float32), [0])
        with ThreadPoolExecutor(max_workers=2) as cores:
            for hits, peaks in cores.map(in_chunk, range(0, len(samples), CHUNK)):
                found._indices.append(hits)
                found._peaks.append(peaks)
                found._bounds.append(len(found._indices))
        return found

    def chunks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(where the chunk ends, its samples' indices, their true peaks), chunk by chunk."""
        for k, (a, b) in enumerate(zip(self._bounds, self._bounds[1:])):
            yield (k + 1) * CHUNK, self._indices[a:b], self._peaks[a:b]

    @property
    def indices(self) -> np.ndarray:
        return self._indices[:]

    @property
    def peaks(self) -> np.ndarray:
        return self._peaks[:]


@dataclass(frozen=True)
class BlockPeaks:
    """A signal seen in short blocks that tile its 100 ms loudness steps: each block's sample peak and energy
    (one value in 63 or so for each). The limiter's loss of loudness at any trial gain is estimated from it in
    milliseconds (estimate_limited), where making its exact curve and measuring the limited signal takes most of
    a second on an episode."""

    size: int  # samples per block: a divisor of the step
    peaks: np.ndarray  # float32, the largest magnitude in each block
    energies: np.ndarray  # float32, the sum of squares of each block

    @classmethod
    def of(cls, samples: Samples, rate: int) -> BlockPeaks:
        found = BlockPeaksSoFar(rate)
        usable = len(samples) // found.step * found.step  # whole steps: the measure leaves out the last part of one
        chunk = max(found.step, CHUNK // found.step * found.step)
        for offset in range(0, usable, chunk):
            found.add(samples[offset: min(offset + chunk, usable)])
        return found.result()


class BlockPeaksSoFar:
    """BlockPeaks of a signal given piece by piece (the stitcher's output): the blocks of every whole 100 ms step
    added so far."""

    def __init__(self, rate: int) -> None:
        self.step = step_of(rate)
        self.size = max(d for d in range(1, ESTIMATE_BLOCK + 1) if self.step % d == 0)
        self._waiting = np.zeros(0, dtype=np.float32)  # the start of a step, until the rest of it comes
        self._peaks: list[np.ndarray] = []
        self._energies: list[np.ndarray] = []

    def add(self, samples: np.ndarray) -> None:
        samples = np.concatenate([self._waiting, np.asarray(samples, dtype=np.float32)])
        whole = len(samples) // self.step * self.step
        self._waiting = samples[whole:].copy()
        if whole:
            blocks = samples[:whole].reshape(-1, self.size)
            self._peaks.append(np.maximum(blocks.max(axis=1), -blocks.min(axis=1)))
            self._energies.append(np.einsum("ij,ij->i", blocks, blocks))

    def result(self) -> BlockPeaks:
        empty = np.zeros(0, dtype=np.float32)
        return BlockPeaks(self.size, np.concatenate(self._peaks) if self._peaks else empty,
                          np.concatenate(self._energies) if self._energies else empty)


SETTLE_S = 1.0  # the K-weighting's memory: after a second, what came before has decayed far under float precision


def remeasured(samples: ReadableSamples, rate: int, before: Measurement, blocks: BlockPeaks,
               spans: list[tuple[int, int]]) -> tuple[Measurement, BlockPeaks]:
    """The measure and blocks of `samples` after a change within `spans` alone ([start, end) each), from
    their measure and blocks `before` it (a music bed mixed under the intro and outro): only the spans are read
    again. The 100 ms steps from each span's first to a second after its end are K-weighted again, from a second
    before it (the filter's memory); the blocks of the span's steps are found again; the true peak is the larger
    of the spans' own (with their neighbours as context) and the rest's, which the blocks outside the spans find:
    only blocks whose sample peak comes within CANDIDATE_MARGIN_DB of the rest's largest can hold it."""
    step = step_of(rate)
    settle = int(round(SETTLE_S * rate)) // step * step
    length = before.samples
    steps, peaks, energies = before.steps.copy(), blocks.peaks.copy(), blocks.energies.copy()
    per_step = step // blocks.size
    inside = np.zeros(len(peaks), dtype=bool)
    true_peak = 0.0
    for start, end in spans:
        first, last = start // step, min(len(steps), -(-(end + settle) // step))  # the steps to measure again
        origin = max(0, first * step - settle)
        meter = LoudnessMeter(rate, true_peak=False, start=origin)
        for offset in range(origin, last * step, CHUNK):
            meter.add(samples[offset: min(offset + CHUNK, last * step)])
        steps[first:last] = meter.result().steps[first - origin // step: last - origin // step]
        a, b = first * per_step, min(len(peaks), -(-end // step) * per_step)  # the blocks of the span's steps
        found = BlockPeaksSoFar(rate)
        found.add(samples[a * blocks.size: b * blocks.size])
        changed = found.result()
        peaks[a:b], energies[a:b] = changed.peaks[: b - a], changed.energies[: b - a]
        inside[a:b] = True
        lo, hi = min(start, a * blocks.size), min(length, max(end, b * blocks.size))  # the span and its blocks
        true_peak = max(true_peak, _true_peak_near_top(samples, lo, hi))
    outside = np.flatnonzero(~inside)
    top = float(peaks[outside].max()) if len(outside) else 0.0
    if top > 0:  # the rest's true peak: near its largest samples only
        candidates = outside[peaks[outside] >= top * db_to_gain(-CANDIDATE_MARGIN_DB)]
        true_peak = max(true_peak, _true_peak_in_blocks(samples, candidates, blocks.size, top))
    # (samples past the last whole step have no block: the meter saw them; read them too)
    tail = blocks.size * len(peaks)
    if tail < length:
        true_peak = max(true_peak, _true_peak_near_top(samples, tail, length))
    measured = _gated(steps, gain_to_db(true_peak), length)
    return measured, BlockPeaks(blocks.size, peaks, energies)


def _true_peak_in_blocks(samples: ReadableSamples, blocks: np.ndarray, size: int, top: float) -> float:
    """The true peak around the samples within CANDIDATE_MARGIN_DB of `top` in the given blocks (their numbers,
    sorted; `size` samples each), their neighbours as context: the blocks read a CHUNK of samples at a time and
    their candidates interpolated together (block by block, a signal whose peaks are everywhere — noise — took
    seconds)."""
    best, floor, n = 0.0, top * db_to_gain(-CANDIDATE_MARGIN_DB), 0
    while n < len(blocks):
        first = int(blocks[n])
        end = n + max(1, int(np.searchsorted(blocks[n:], first + CHUNK // size)))  # the blocks within a CHUNK
        hi = (int(blocks[end - 1]) + 1) * size
        segment = _slice_with_silence(samples, first * size - EDGE, hi + EDGE)
        wanted = np.zeros(int(blocks[end - 1]) - first + 1, dtype=bool)
        wanted[blocks[n:end] - first] = True
        hits = EDGE + np.flatnonzero((np.abs(segment[EDGE:-EDGE]) >= floor) & np.repeat(wanted, size))
        best = max(best, float(true_peaks_at(segment, hits).max(initial=0.0)))
        n = end
    return best


def _true_peak_near_top(samples: ReadableSamples, lo: int, hi: int, top: float | None = None) -> float:
    """The true peak of samples[lo:hi] (their neighbours as context), looked for around the samples within
    CANDIDATE_MARGIN_DB of `top` (by default, of their own largest); 0 for silence."""
    segment = _slice_with_silence(samples, lo - EDGE, hi + EDGE)
    magnitude = np.abs(segment[EDGE:-EDGE])
    top = float(magnitude.max(initial=0.0)) if top is None else top
    if top <= 0:
        return 0.0
    hits = EDGE + np.flatnonzero(magnitude >= top * db_to_gain(-CANDIDATE_MARGIN_DB))
    return float(true_peaks_at(segment, hits).max(initial=0.0))


def estimate_limited(steps: np.ndarray, blocks: BlockPeaks, rate: int, gain_db: float,
                     ceiling_db: float) -> tuple[float, float]:
    """(integrated loudness, share of the energy in limited blocks) of the signal whose unlimited 100 ms steps
    are `steps`, at `gain_db` with the limiter, estimated: limiter_curve's gains computed on the blocks' sample
    peaks (its attack and hold in blocks), and each step's K-weighted power scaled by the share of the step's
    energy those gains keep. Off the measure of the exact curve by about a tenth of a LU on a real voice limited
    by 6 dB, always in the same direction (docs/speed.md)."""
    scale = db_to_gain(gain_db)
    if len(steps) == 0 or len(blocks.peaks) != len(steps) * (step_of(rate) // blocks.size):
        return _gated(steps * scale * scale, math.nan, 0).integrated_lufs, 0.0
    attack = max(1, int(round(ATTACK_S * rate / blocks.size)))
    hold = max(1, int(round(HOLD_S * rate / blocks.size)))
    per_step = len(blocks.peaks) // len(steps)
    ratio = np.ones(len(steps))
    limited = whole = 0.0
    # A chunk of steps at a time, each with the blocks the limiter's filters reach on both sides: the same gains
    # as one pass, in memory that does not grow with the episode (an hour is 2.5 million blocks).
    reach = attack + hold
    chunk = max(1, ESTIMATE_CHUNK_BLOCKS // per_step)
    for first in range(0, len(steps), chunk):
        a, b = first * per_step, min(len(steps), first + chunk) * per_step
        lo, hi = max(0, a - reach), min(len(blocks.peaks), b + reach)
        peaks = np.maximum(blocks.peaks[lo:hi].astype(np.float64), 1e-30)
        gains = _limiter_gains(np.minimum(1.0, db_to_gain(ceiling_db) / scale / peaks), attack, hold)[a - lo: b - lo]
        energies = blocks.energies[a:b].astype(np.float64)
        kept = energies * np.square(gains)
        total = energies.reshape(-1, per_step).sum(axis=1)
        ratio[first: first + len(total)] = np.divide(kept.reshape(-1, per_step).sum(axis=1), total,
                                                     out=np.ones_like(total), where=total > 0)
        limited += float(kept[gains < 1.0 - 1e-6].sum())
        whole += float(kept.sum())
    return (_gated(steps * scale * scale * ratio, math.nan, 0).integrated_lufs,
            limited / whole if whole > 0 else 0.0)


def limiter_curve(samples: Samples, rate: int, gain_db: float, ceiling_db: float,
                  peaks: PeakMap | None = None) -> GainCurve:
    """The gain curve that applies `gain_db` and keeps every true peak at or under `ceiling_db`. `peaks` may
    come from an earlier call (its floor must be at or under ceiling - gain). Made a chunk of the peak map at a
    time: a run of peaks is made into gains once no later peak can join it."""
    curve = GainCurve(scale=db_to_gain(gain_db))
    # the gains go into a file where the samples are (in the system's temporary folder for an array)
    store = SampleFile(0, getattr(samples, "directory", None), np.float16)
    ceiling = db_to_gain(ceiling_db)
    floor = ceiling / curve.scale  # samples whose true peak reaches this go over the ceiling once gained
    if peaks is None or peaks.floor > floor * (1 + 1e-9):
        peaks = PeakMap.find(samples, floor)
    attack = max(1, int(round(ATTACK_S * rate)))
    hold = max(1, int(round(HOLD_S * rate)))
    reach = attack + hold  # room for the gain to go down before a peak and come back after it
    waiting = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)  # a run that later peaks may join
    for end, indices, found in peaks.chunks():
        over = found > floor
        hits = np.concatenate([waiting[0], indices[over]])
        needed = np.concatenate([waiting[1], (floor / found[over]).astype(np.float64)])
        runs = _hit_runs(hits, 2 * reach) if len(hits) else []
        if runs and end < len(samples) and hits[runs[-1][1] - 1] + 2 * reach >= end:
            first, _ = runs.pop()  # the next chunk's first peak may still be part of it
            waiting = hits[first:], needed[first:]
        else:
            waiting = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        if runs:
            curve.regions.extend(_limited_stretches(hits, needed, runs, len(samples), attack, hold, store))
    return curve


def limiter_curve_of_part(samples: Samples, rate: int, gain_db: float, ceiling_db: float, start: int,
                          stop: int) -> GainCurve:
    """limiter_curve of samples[start:stop] alone, its regions placed in the whole signal: the same gains as the
    whole signal's curve there when the part is cut in silence longer than the limiter's reach (an MP3 part:
    mp3file.cut_points)."""
    curve = limiter_curve(window(samples, start, stop), rate, gain_db, ceiling_db)
    curve.regions = [dataclasses.replace(region, start=region.start + start, stop=region.stop + start)
                     for region in curve.regions]
    return curve


def _limited_stretches(hits: np.ndarray, needed_at_hits: np.ndarray, runs: list[tuple[int, int]], length: int,
                       attack: int, hold: int, store: SampleFile) -> list[LimiterStretch]:
    """The gains around each run of peaks (`runs`: [first, end) in `hits`, the sample indices of the peaks, each
    needing the gain in `needed_at_hits`), stored in `store`. The runs are done in passes over their stretches
    laid end to end: each stretch has `attack + hold` samples of no limiting on both sides, more than either
    filter of _limiter_gains reaches, so no run sees another (the same gains as run by run, without a thousand
    small passes). A pass takes runs up to STRETCH_BATCH samples: its dozen working arrays then stay small
    enough for the allocator to reuse, where one pass over a part of loud speech made arrays of the part's
    size, every page of them new to the process (docs/speed.md)."""
    reach = attack + hold
    starts = np.maximum(hits[[first for first, _ in runs]] - reach, 0)
    stops = np.minimum(hits[[last - 1 for _, last in runs]] + reach + 1, length)
    stretches: list[LimiterStretch] = []
    begin = total = 0
    for r, size in enumerate((stops - starts).tolist()):
        if total and total + size > STRETCH_BATCH:
            stretches += _stretches_in_one_pass(hits, needed_at_hits, runs[begin:r], starts[begin:r],
                                                stops[begin:r], attack, hold, store)
            begin, total = r, 0
        total += size
    if begin < len(runs):
        stretches += _stretches_in_one_pass(hits, needed_at_hits, runs[begin:], starts[begin:], stops[begin:],
                                            attack, hold, store)
    return stretches


def _stretches_in_one_pass(hits: np.ndarray, needed_at_hits: np.ndarray, runs: list[tuple[int, int]],
                           starts: np.ndarray, stops: np.ndarray, attack: int, hold: int,
                           store: SampleFile) -> list[LimiterStretch]:
    """_limited_stretches for RUNS, whose stretches span [starts, stops), laid end to end in one array."""
    firsts = np.array([first for first, _ in runs])
    lasts = np.array([last for _, last in runs]) - 1
    offsets = np.concatenate([[0], np.cumsum(stops - starts)])
    run_of_hit = np.repeat(np.arange(len(runs)), lasts - firsts + 1)
    taken = np.concatenate([np.arange(first, last) for first, last in runs])
    needed = np.ones(int(offsets[-1]))
    needed[hits[taken] - starts[run_of_hit] + offsets[run_of_hit]] = needed_at_hits[taken]
    gains = _limiter_gains(needed, attack, hold)
    reduced = gains < 1.0 - 1e-6
    positions = np.arange(len(gains))
    lows = np.minimum.reduceat(np.where(reduced, positions, len(gains)), offsets[:-1])
    highs = np.maximum.reduceat(np.where(reduced, positions, -1), offsets[:-1]) + 1
    limited = np.flatnonzero(highs > lows)  # a run whose peaks all sit just at the floor may need no limiting
    if len(limited) == 0:
        return []
    kept = np.concatenate([gains[lows[r]: highs[r]] for r in limited]).astype(np.float16)
    stored = store.append(kept)
    stretches, at = [], 0
    for r in limited:
        lo, hi = int(lows[r]), int(highs[r])
        begin = int(starts[r]) + lo - int(offsets[r])
        stretches.append(LimiterStretch(begin, begin + hi - lo, stored.window(at, at + hi - lo)))
        at += hi - lo
    return stretches


def _limiter_gains(needed: np.ndarray, attack: int, hold: int) -> np.ndarray:
    """The limiter's shape: the gain of each sample (or block) from the gain each one needs (1 where nothing is
    needed), with `attack` and `hold` counted in samples (or blocks)."""
    # lazy: scipy is slow to load: only when audio is measured (build warms it up during synthesis)
    from scipy import ndimage

    # held[m]: the smallest gain needed from `hold` samples before m to `attack` samples after it
    size = attack + hold + 1
    held = ndimage.minimum_filter1d(needed, size=size, origin=hold - size // 2, mode="nearest")
    # each gain is the mean of the helds of the `attack` samples up to it, which all cover it: it never
    # exceeds what any sample needs, and it moves in straight ramps of `attack` samples
    sums = np.cumsum(np.concatenate([np.full(attack, held[0]), held]))
    return np.minimum((sums[attack:] - sums[:-attack]) / attack, 1.0)


def _hit_runs(hits: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Positions [first, end) in `hits` (sorted sample indices) of the runs whose hits are at most `gap` apart."""
    breaks = np.flatnonzero(np.diff(hits) > gap) + 1
    bounds = np.concatenate([[0], breaks, [len(hits)]])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

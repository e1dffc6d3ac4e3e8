"""loudness.py: our in-process BS.1770 meter and true-peak limiter, checked against ffmpeg's ebur128 filter (the
independent reference, a separate program) on real speech and on signals whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audio_edition.audio import ffmpeg, loudness
from audio_edition.audio.loudness import GainCurve, PeakMap, limiter_curve, measure
from audio_edition.audio.resample import resample
from audio_edition.audio.samplefile import SampleFile
from audio_edition.voice.engines import open_engine
from audio_edition.voice.spec import EngineSpec

RATE = 44100


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """Real French speech (espeak-ng), 44.1 kHz, about 20 s, with pauses."""
    engine = open_engine(EngineSpec(engine="espeak", voice="fr"))
    sentences = ["Le gouvernement a présenté mardi son projet de loi de finances pour l'année prochaine.",
                 "Les syndicats appellent à une journée de grève dans les transports publics.",
                 "À Marseille, la fréquentation des plages a battu un record cet été."]
    parts = []
    for text in sentences:
        parts += [engine.synthesize(text), np.zeros(engine.sample_rate // 3, dtype=np.float32)]
    return resample(np.concatenate(parts), engine.sample_rate, RATE)


@pytest.fixture(scope="module")
def push(speech) -> float:
    """A gain that puts the speech's loudest peak 4 dB over a -2.5 dBTP ceiling (a typical limiter workload)."""
    return -2.5 - measure(speech, RATE).true_peak_dbtp + 4.0


def sine(freq: float, seconds: float, amplitude: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def pieces(x: np.ndarray, sizes: list[int]):
    at, k = 0, 0
    while at < len(x):
        yield x[at: at + sizes[k % len(sizes)]]
        at += sizes[k % len(sizes)]
        k += 1


def test_a_1khz_sine_at_minus_20_dbfs_is_minus_23_lufs_like_ffmpeg_says():
    x = sine(1000, 5.0, 0.1)
    ours = measure(x, RATE)
    assert ours.integrated_lufs == pytest.approx(-23.0, abs=0.05)  # BS.1770: 0 dBFS 1 kHz mono = -3.01 LUFS
    assert ours.integrated_lufs == pytest.approx(ffmpeg.measure_samples(x, RATE).integrated_lufs, abs=0.1)
    assert ours.true_peak_dbtp == pytest.approx(-20.0, abs=0.05)


def test_speech_loudness_and_true_peak_match_ffmpeg(speech):
    reference = ffmpeg.measure_samples(speech, RATE)
    ours = measure(speech, RATE)
    assert ours.integrated_lufs == pytest.approx(reference.integrated_lufs, abs=0.1)
    assert ours.true_peak_dbtp == pytest.approx(reference.true_peak_dbtp, abs=0.15)
    assert ours.samples == len(speech)


def test_true_peak_between_samples_is_found():
    # a quarter-rate sine sampled 45 degrees off its crests: every sample is at 0.707 of the real peak (-3 dB)
    x = sine(RATE / 4, 1.0, 0.5, phase=math.pi / 4)
    assert 20 * math.log10(np.abs(x).max()) == pytest.approx(-9.03, abs=0.05)
    ours = measure(x, RATE)
    assert ours.true_peak_dbtp == pytest.approx(-6.02, abs=0.15)  # the real crest, 3 dB over every sample
    # (ffmpeg's ebur128 reads -5.4 here: its resampler rings; both err on the safe side)
    assert ours.true_peak_dbtp <= ffmpeg.measure_samples(x, RATE).true_peak_dbtp + 0.05


def test_a_peak_at_a_piece_boundary_is_measured_the_same_in_pieces(speech):
    whole = measure(speech, RATE)
    loudest = int(np.argmax(np.abs(speech)))
    sizes = [loudest, 7, 1, 4096, 100_000]  # a cut right at the loudest sample, then odd sizes
    split = measure(pieces(speech, sizes), RATE)
    assert split.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-6)
    assert split.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=1e-6)
    assert split.samples == whole.samples


def test_silence_and_too_short_signals_have_no_loudness():
    assert measure(np.zeros(RATE * 3, dtype=np.float32), RATE).integrated_lufs == -math.inf
    assert measure(np.zeros(RATE * 3, dtype=np.float32), RATE).true_peak_dbtp == -math.inf
    assert measure(sine(440, 0.3, 0.5), RATE).integrated_lufs == -math.inf  # under one 400 ms block
    assert measure(np.zeros(0, dtype=np.float32), RATE).samples == 0


def test_other_rates_agree_with_ffmpeg(speech):
    for rate in (22050, 48000):
        x = resample(speech, RATE, rate)
        assert measure(x, rate).integrated_lufs == pytest.approx(
            ffmpeg.measure_samples(x, rate).integrated_lufs, abs=0.1)


def test_limiter_holds_the_true_peak_under_the_ceiling_as_ffmpeg_measures_it(speech, push):
    gain_db, ceiling_db = push, -2.5
    plain = speech * loudness.db_to_gain(gain_db)
    assert ffmpeg.measure_samples(plain, RATE).true_peak_dbtp > ceiling_db + 3.5
    curve = limiter_curve(speech, RATE, gain_db, ceiling_db)
    limited = np.concatenate(list(curve.pieces(speech)))
    assert len(limited) == len(speech)
    assert ffmpeg.measure_samples(limited, RATE).true_peak_dbtp <= ceiling_db + 0.1
    # away from the limited regions the gain is exactly the plain gain
    touched = np.zeros(len(speech), dtype=bool)
    for region in curve.regions:
        touched[region.start: region.stop] = True
    assert 0 < touched.mean() < 0.9
    np.testing.assert_allclose(limited[~touched], plain[~touched], rtol=1e-6, atol=1e-7)
    # the loudness moves by much less than the peaks are pulled down
    assert measure(limited, RATE).integrated_lufs > measure(plain, RATE).integrated_lufs - 2.0  # peaks: -4 dB


def test_limiter_gain_moves_in_ramps_never_jumps(speech, push):
    curve = limiter_curve(speech, RATE, push, -2.5)
    attack = round(loudness.ATTACK_S * RATE)
    for region in curve.regions:
        g = np.concatenate([[1.0], region.gains().astype(np.float64), [1.0]])  # regions start and end at full gain
        assert np.abs(np.diff(g)).max() <= 1.0 / attack + 1e-3


def test_limiter_leaves_a_quiet_signal_alone_and_peak_map_can_be_reused(speech, push):
    assert limiter_curve(speech, RATE, push - 5.0, -2.5).regions == []
    fresh = limiter_curve(speech, RATE, push, -2.5)
    reused = limiter_curve(speech, RATE, push, -2.5, PeakMap.find(speech, loudness.db_to_gain(-2.5 - push - 1.0)))
    assert [(r.start, r.stop) for r in fresh.regions] == [(r.start, r.stop) for r in reused.regions]
    for a, b in zip(fresh.regions, reused.regions):
        np.testing.assert_array_equal(a.gains(), b.gains())


def _gains_by_definition(signal: np.ndarray, rate: int, gain_db: float, ceiling_db: float) -> np.ndarray:
    """The limiter's gains from its definition, over the whole signal at once: each sample's gain is the mean,
    over the ATTACK samples up to it, of the smallest gain any peak needs from HOLD samples before it to ATTACK
    samples after it."""
    from numpy.lib.stride_tricks import sliding_window_view

    attack, hold = round(loudness.ATTACK_S * rate), round(loudness.HOLD_S * rate)
    floor = loudness.db_to_gain(ceiling_db - gain_db)
    found = PeakMap.find(signal, floor)
    over = found.peaks > floor
    needed = np.ones(len(signal))
    needed[found.indices[over]] = floor / found.peaks[over].astype(np.float64)
    around = np.concatenate([np.full(hold, 1.0), needed, np.full(attack, 1.0)])  # nothing is needed outside
    held = sliding_window_view(around, hold + attack + 1).min(axis=1)
    before = np.concatenate([np.full(attack - 1, held[0]), held])
    return np.minimum(sliding_window_view(before, attack).mean(axis=1), 1.0)


@pytest.mark.parametrize("batch", [64, loudness.STRETCH_BATCH, 1 << 40])
def test_the_limiter_gives_the_gains_of_its_definition(speech, push, batch, monkeypatch):
    # limiter_curve does the runs of peaks of a chunk in passes over their stretches laid end to end: its gains
    # must be those of the definition, with peaks at the very start and end of the signal (where a run's stretch
    # is cut short) and across a chunk boundary, whether a pass takes one run (64 samples), some or all of them.
    # At 8 kHz, so that the definition's sliding windows stay cheap.
    monkeypatch.setattr(loudness, "STRETCH_BATCH", batch)
    rate = 8000
    signal = np.tile(resample(speech, RATE, rate), 3)
    assert len(signal) > loudness.CHUNK
    peak = float(np.abs(signal).max())
    for at in (3, loudness.CHUNK - 40, len(signal) - 5):
        signal[at] = peak * 1.1
    curve = limiter_curve(signal, rate, push, -2.5)
    got = np.ones(len(signal))
    for region in curve.regions:
        got[region.start: region.stop] = region.gains()
    assert got[3] < 0.9 and got[-5] < 0.9 and got[loudness.CHUNK - 40] < 0.9
    np.testing.assert_allclose(got, _gains_by_definition(signal, rate, push, -2.5), atol=1e-3)  # float16 gains


def test_the_limiters_estimate_is_close_to_the_measure_of_its_exact_curve(speech, push):
    # The episode's gain is found on the estimate (assemble.episode_gain): it must be close to the exact curve's
    # measure at light and at hard limiting, and exact when nothing is limited.
    first = measure(speech, RATE)
    blocks = loudness.BlockPeaks.of(speech, RATE)
    shares = []
    for gain in (push, push + 4.0, push + 8.0):
        estimate, share = loudness.estimate_limited(first.steps, blocks, RATE, gain, -2.5)
        exact = measure(limiter_curve(speech, RATE, gain, -2.5).pieces(speech), RATE).integrated_lufs
        assert estimate == pytest.approx(exact, abs=0.15)
        shares.append(share)
    assert 0 < shares[0] < shares[1] < shares[2] < 1
    quiet, share = loudness.estimate_limited(first.steps, blocks, RATE, push - 6.0, -2.5)
    assert quiet == pytest.approx(first.integrated_lufs + push - 6.0, abs=1e-9) and share == 0.0


def test_gain_curve_gives_the_same_samples_whatever_the_piece_size(speech, push):
    curve = limiter_curve(speech, RATE, push, -2.5)
    whole = curve.apply(speech, 0)
    cut = np.concatenate([curve.apply(speech[a: a + 999], a) for a in range(0, len(speech), 999)])
    np.testing.assert_array_equal(whole, cut)
    assert isinstance(curve, GainCurve) and whole.dtype == np.float32


def test_peak_map_in_chunks_finds_the_peaks_of_one_pass_in_memory_or_on_disk(tmp_path):
    # The map is made chunk by chunk, two at a time, each chunk read with the neighbours its true peaks need: it
    # must be the map one pass over the whole signal makes, in the same order, whether the signal is an array or
    # the SampleFile a long episode is kept in.
    rng = np.random.default_rng(5)
    noise = (rng.standard_normal(44100 * 12) * 0.2).astype(np.float32)
    noise[1000:1003] = [0.9, -0.95, 0.9]  # a sharp peak between samples
    noise[loudness.CHUNK - 1: loudness.CHUNK + 2] = [0.9, -0.97, 0.9]  # and one across a chunk boundary
    floor = 0.3
    found = PeakMap.find(noise, floor)
    candidates = np.flatnonzero(np.abs(noise) >= floor * loudness.db_to_gain(-loudness.CANDIDATE_MARGIN_DB))
    assert len(candidates) >= 1 << 16
    one_pass = loudness.true_peaks_at(noise, candidates)
    keep = one_pass >= floor
    assert np.array_equal(found.indices, candidates[keep])
    # the same to float32 rounding (a dense run cut at a chunk boundary is computed in two parts)
    assert np.allclose(found.peaks, one_pass[keep], rtol=1e-6, atol=0)
    assert found.peaks.max() > 0.97  # the inter-sample peaks are there, the one across the boundary too
    with SampleFile(len(noise), tmp_path) as on_disk:
        on_disk[:] = noise
        from_disk = PeakMap.find(on_disk, floor)
    assert np.array_equal(from_disk.indices, found.indices) and np.array_equal(from_disk.peaks, found.peaks)


def test_meters_of_consecutive_parts_join_into_the_measure_of_the_whole(speech):
    # The MP3's parts are measured by one meter each (made with the part's start); cut in a pause, the joined
    # measure is the one-pass measure, whatever the cut's place in the 100 ms steps.
    pauses = np.flatnonzero(np.convolve(speech == 0, np.ones(4410), "valid") == 4410)
    for cut in (int(pauses[len(pauses) // 3]) + 4000, int(pauses[-1]) + 2205):
        first, second = loudness.LoudnessMeter(RATE), loudness.LoudnessMeter(RATE, start=cut)
        for piece in pieces(speech[:cut], [70_001]):
            first.add(piece)
        for piece in pieces(speech[cut:], [50_000, 333]):
            second.add(piece)
        joined = loudness.LoudnessMeter.joined([first, second])
        whole = measure(speech, RATE)
        assert joined.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-6)
        assert joined.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=1e-6)
        assert joined.samples == len(speech)
    with pytest.raises(ValueError):  # a part missing in between is refused, not measured as silence
        loudness.LoudnessMeter.joined([first, loudness.LoudnessMeter(RATE, start=cut + 1000)])


def test_the_episode_gain_found_on_the_estimate_lands_on_target_with_the_exact_limiter(speech):
    # The whole episode's gain is found on the limiter's estimate alone (milliseconds), and the exact curve is made
    # part by part as the MP3 is encoded: the exact curve at that gain must land within a fraction of a LU of the
    # target (the MP3's own measure corrects what is left), and a gain the peaks allow is exact.
    from audio_edition.audio import assemble

    first = measure(speech, RATE)
    blocks = loudness.BlockPeaks.of(speech, RATE)
    ceiling = -1.0 - assemble.MP3_PEAK_MARGIN_DB
    for over in (2.0, 4.0):
        plain = ceiling - first.true_peak_dbtp + over  # a plain gain would put the peaks this far over the ceiling
        target = first.integrated_lufs + plain
        gain = assemble.episode_gain(first, blocks, RATE, target, ceiling)
        assert gain > plain + 0.3  # limiting takes loudness away: more gain than plain
        limited = measure(limiter_curve(speech, RATE, gain, ceiling).pieces(speech), RATE)
        assert limited.integrated_lufs == pytest.approx(target, abs=0.15)
        assert limited.true_peak_dbtp <= ceiling + 0.05
    quiet = first.integrated_lufs + ceiling - first.true_peak_dbtp - 2.0
    assert assemble.episode_gain(first, blocks, RATE, quiet, ceiling) == quiet - first.integrated_lufs
    silence = measure(np.zeros(RATE, dtype=np.float32), RATE)
    assert assemble.episode_gain(silence, None, RATE, -16.0, ceiling) == 0.0


def test_the_limiter_made_part_by_part_is_the_limiter_of_the_whole(speech, push):
    # An MP3 part's gain curve is made from that part's samples alone: cut in silence longer than the limiter's
    # reach, it must give every sample the gain the whole signal's curve gives it.
    from audio_edition.audio import mp3file

    signal = np.concatenate([speech, np.zeros(RATE, np.float32), speech, np.zeros(RATE, np.float32), speech])
    cut_a = mp3file.next_cut(signal, len(speech) + RATE // 2, 2 * RATE, 0)
    cut_b = mp3file.next_cut(signal, 2 * len(speech) + 3 * RATE // 2, 2 * RATE, cut_a)
    assert cut_a is not None and cut_b is not None
    whole = limiter_curve(signal, RATE, push, -2.5)
    parts = [loudness.limiter_curve_of_part(signal, RATE, push, -2.5, a, b)
             for a, b in ((0, cut_a), (cut_a, cut_b), (cut_b, len(signal)))]
    by_parts = np.concatenate([curve.apply(signal[a:b], a) for curve, (a, b) in
                               zip(parts, ((0, cut_a), (cut_a, cut_b), (cut_b, len(signal))))])
    assert all(curve.regions for curve in parts)
    assert all(region.start >= a and region.stop <= b for curve, (a, b) in
               zip(parts, ((0, cut_a), (cut_a, cut_b), (cut_b, len(signal)))) for region in curve.regions)
    np.testing.assert_array_equal(by_parts, whole.apply(signal, 0))


def test_a_meter_so_far_then_to_the_end(speech):
    # The MP3's first parts are encoded at the gain of the episode so far: the meter's measure so far must be the
    # measure of what it was given, and it must go on measuring after it (the whole at the end).
    meter = loudness.LoudnessMeter(RATE)
    half = len(speech) // 2
    for piece in pieces(speech[:half], [30_001]):
        meter.add(piece)
    so_far = meter.so_far()
    head = measure(speech[:half], RATE)
    assert so_far.integrated_lufs == pytest.approx(head.integrated_lufs, abs=1e-6) and so_far.samples == half
    assert so_far.true_peak_dbtp <= head.true_peak_dbtp + 1e-6
    for piece in pieces(speech[half:], [20_000]):
        meter.add(piece)
    assert meter.result().integrated_lufs == pytest.approx(measure(speech, RATE).integrated_lufs, abs=1e-6)
    found = loudness.BlockPeaksSoFar(RATE)
    for piece in pieces(speech, [12_345, 777]):
        found.add(piece)
    whole = loudness.BlockPeaks.of(speech, RATE)
    assert np.array_equal(found.result().peaks, whole.peaks)
    np.testing.assert_allclose(found.result().energies, whole.energies, rtol=1e-6)


def test_the_rest_of_a_noisy_signal_keeps_its_true_peak_when_spans_are_measured_again():
    # Noise has candidate peaks in nearly every block outside the spans (read a chunk at a time, not block by
    # block): the true peak found there is the whole changed signal's, with the spans quietened under it.
    from audio_edition.audio import loudness

    rng = np.random.default_rng(11)
    noise = np.clip(0.25 * rng.standard_normal(40 * RATE), -1.0, 1.0).astype(np.float32)
    before, blocks = loudness.measure(noise, RATE), loudness.BlockPeaks.of(noise, RATE)
    spans = [(0, 3 * RATE), (len(noise) - 2 * RATE, len(noise))]
    changed = noise.copy()
    for start, end in spans:
        changed[start:end] *= 0.1
    measured, _ = loudness.remeasured(changed, RATE, before, blocks, spans)
    assert measured.true_peak_dbtp == pytest.approx(loudness.measure(changed, RATE).true_peak_dbtp, abs=1e-6)


def test_a_change_in_a_few_spans_is_measured_again_there_only(speech):
    # A music bed changes the intro and the outro only: measuring those spans again (and the blocks outside them
    # for the true peak) gives the measure, blocks and true peak of the whole changed signal.
    from audio_edition.audio import loudness

    rng = np.random.default_rng(5)
    rate = RATE
    for spans, loud_in_span in (([(0, 5 * rate), (len(speech) - 4 * rate - 123, len(speech))], True),
                                ([(7 * rate + 17, 9 * rate)], False)):
        before = loudness.measure(speech, rate)
        blocks = loudness.BlockPeaks.of(speech, rate)
        changed = speech.copy()
        for start, end in spans:  # loud enough in the first case to hold the new true peak, quiet in the second
            changed[start:end] += (0.6 if loud_in_span else 0.02) * rng.standard_normal(end - start).astype(np.float32)
        np.clip(changed, -1.0, 1.0, out=changed)
        measured, new_blocks = loudness.remeasured(changed, rate, before, blocks, spans)
        whole = loudness.measure(changed, rate)
        whole_blocks = loudness.BlockPeaks.of(changed, rate)
        assert measured.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-4)
        assert measured.integrated_lufs != pytest.approx(before.integrated_lufs, abs=1e-3)
        np.testing.assert_allclose(measured.steps, whole.steps, rtol=1e-4, atol=1e-12)
        assert measured.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=1e-6)
        np.testing.assert_array_equal(new_blocks.peaks, whole_blocks.peaks)
        np.testing.assert_allclose(new_blocks.energies, whole_blocks.energies, rtol=1e-6)

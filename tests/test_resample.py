"""resample.py: libsoxr in this process must give what ffmpeg's soxr resampler gave (same library, same quality),
exactly resampled_length() samples, and every sound at its time."""

from __future__ import annotations

import numpy as np
import pytest

from audio_edition.audio import ffmpeg
from audio_edition.audio.resample import resample, resample_pieces, resampled_length

RNG = np.random.default_rng(3)


def test_same_samples_as_ffmpegs_soxr_resampler():
    x = (0.3 * RNG.standard_normal(22050 * 7)).astype(np.float32)
    ours = resample(x, 22050, 44100)
    proc = ffmpeg.run_ffmpeg(["-f", "f32le", "-ar", "22050", "-ac", "1", "-i", "pipe:0",
                              "-af", "aresample=44100:resampler=soxr:precision=28", "-f", "f32le", "-ar", "44100",
                              "-ac", "1", "pipe:1"], stdin=x.tobytes())
    theirs = np.frombuffer(proc.stdout, dtype="<f4")
    assert len(ours) == len(theirs) == 2 * len(x)
    assert np.max(np.abs(ours - theirs)) < 1e-6


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 32000, 48000])
def test_exact_length_and_a_click_stays_at_its_time(rate):
    x = np.zeros(rate * 3 + 7, dtype=np.float32)
    x[rate] = 1.0  # a click at 1 s
    sizes = [1, 999, 70_001, rate]  # pieces of any size give the same result
    pieces, at, k = [], 0, 0
    while at < len(x):
        pieces.append(x[at: at + sizes[k % len(sizes)]])
        at += sizes[k % len(sizes)]
        k += 1
    into = np.full(resampled_length(len(x), rate, 44100), np.nan, dtype=np.float32)
    filled = []
    resample_pieces(pieces, len(x), rate, 44100, into, on_filled=filled.append)
    assert not np.isnan(into).any() and filled == sorted(filled) and filled[-1] <= len(into)
    assert np.array_equal(into, resample(x, rate, 44100))
    assert abs(int(np.argmax(np.abs(into))) - 44100) <= 1


def test_wrong_destination_length_is_refused():
    with pytest.raises(ValueError):
        resample_pieces([np.zeros(100, np.float32)], 100, 22050, 44100, np.zeros(199, np.float32))

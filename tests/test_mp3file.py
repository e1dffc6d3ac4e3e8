"""mp3file.py and ffmpeg.PartedMP3: an episode encoded as parts at once and joined into one MP3 must be,
for every player and decoder, the MP3 of the whole episode: the same length to the sample, every sound at its
time, no click at a join, a valid Xing/LAME header (frames, bytes, TOC, padding, both CRCs)."""

from __future__ import annotations

import logging
import os
from functools import partial

import numpy as np
import pytest
from mutagen.mp3 import MP3

from audio_edition.audio import ffmpeg, loudness, mp3file
from audio_edition.audio.assemble import meter_of_part

RATE = 44100
RNG = np.random.default_rng(11)


def talk(seconds: float) -> np.ndarray:
    """A voiced buzz with syllable-rate modulation (speech-like, and broadband enough to show any misalignment)."""
    t = np.arange(int(seconds * RATE)) / RATE
    buzz = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((150, 300, 450, 900, 2400, 5100), start=1))
    noise = 0.05 * RNG.standard_normal(len(t))
    return (0.15 * (buzz + noise) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def episode(sentences: int = 12, pause: float = 0.45) -> np.ndarray:
    """Sentences of 2-4 s separated by pauses of exact silence, as assembly stitches them."""
    pieces = []
    for n in range(sentences):
        pieces += [talk(2.0 + (n % 3)), np.zeros(int(pause * RATE), np.float32)]
    return np.concatenate(pieces[:-1])


def cuts_into(samples: np.ndarray, parts: int) -> list[int]:
    """Cuts for about `parts` equal parts of a short signal, found as assembly finds them (mp3file.next_cut)."""
    share, cuts = len(samples) // parts, list[int]()
    for k in range(1, parts):
        cut = mp3file.next_cut(samples, k * share, share, cuts[-1] if cuts else 0)
        if cut is not None:
            cuts.append(cut)
    return cuts


def encode(samples: np.ndarray, dest, cuts, meters: bool = True):
    """The parts encoded at once on two cores and joined at DEST (ffmpeg.in_parts, as assembly does); their
    meters (or nothing), in order."""
    def encode_all(parted: ffmpeg.PartedMP3) -> list:
        checked = parted.encode(lambda a, b: [samples[a:b]], range(len(parted)),
                                partial(meter_of_part, rate=RATE) if meters else lambda *_: None, workers=2)
        parted.join()
        return [checked[k] for k in sorted(checked)] if meters else []

    return ffmpeg.in_parts(len(samples), cuts, RATE, 64, dest, encode_all)


def snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    return 10 * np.log10(np.sum(reference.astype(np.float64) ** 2)
                         / np.sum((reference.astype(np.float64) - decoded) ** 2))


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return episode()


@pytest.fixture(scope="module")
def whole_and_parts(signal, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mp3")
    cuts = cuts_into(signal, 4)
    whole, parts = folder / "whole.mp3", folder / "parts.mp3"
    encode(signal, whole, [])
    meters = encode(signal, parts, cuts)
    return cuts, whole, parts, meters


# --- the cuts ----------------------------------------------------------------------------------------------
def test_an_episode_is_cut_near_every_minute_from_what_comes_before_alone():
    # Parts are cut (and encoded) while the episode is still being made: a cut must depend only on the samples up
    # to half a share after it, never on the episode's length; none in the last half minute.
    long = np.concatenate([episode(40)] * 3)  # ~6 min
    share = mp3file.part_share(RATE)
    cuts = mp3file.cut_points(long, RATE)
    assert len(cuts) == (len(long) - share // 2) // share
    assert all(abs(cut - (n + 1) * share) < 5 * RATE for n, cut in enumerate(cuts))  # sentences are 2-4 s
    assert mp3file.cut_points(long[: 2 * share + share // 2], RATE) == cuts[:2]
    assert mp3file.cut_points(long[: share + share // 2 - 1], RATE) == []


def test_cuts_fall_on_frame_boundaries_inside_pauses_near_their_targets(signal):
    cuts = cuts_into(signal, 4)
    assert len(cuts) == 3 and cuts == sorted(cuts)
    for k, cut in enumerate(cuts, start=1):
        assert cut % mp3file.FRAME_SAMPLES == 0
        assert not signal[cut - mp3file.SILENCE_BEFORE_CUT: cut + mp3file.SILENCE_AFTER_CUT].any()
        assert abs(cut - k * len(signal) / 4) < 5 * RATE  # the pause nearest the share (sentences are 2-4 s)


def test_no_cut_without_a_pause_long_enough():
    assert cuts_into(talk(30.0), 4) == []
    gaps = np.concatenate([talk(10.0), np.zeros(mp3file.SILENCE_BEFORE_CUT, np.float32), talk(10.0)])
    assert cuts_into(gaps, 2) == []  # 64 ms: shorter than a cut needs with its margins


# --- the joined file ---------------------------------------------------------------------------------------
def test_joined_mp3_lasts_exactly_the_signal_for_every_reader(signal, whole_and_parts):
    cuts, whole, parts, _ = whole_and_parts
    assert len(cuts) == 3
    assert mp3file.length_samples(parts) == len(signal) == mp3file.length_samples(whole)
    assert abs(MP3(parts).info.length - len(signal) / RATE) < 0.001  # mutagen reads the LAME tag
    assert ffmpeg.measure_file_ebur128(parts).samples == len(signal)  # ffmpeg decodes it sample-exact


def test_every_sound_stays_at_its_time_and_no_join_clicks(signal, whole_and_parts):
    cuts, whole, parts, _ = whole_and_parts
    one, joined = ffmpeg.decode_file(whole, RATE), ffmpeg.decode_file(parts, RATE)
    assert len(joined) == len(signal)
    bounds = [0, *cuts, len(signal)]
    for start, end in zip(bounds[:-1], bounds[1:]):  # each part as faithful as the one-piece encode: not shifted
        assert snr_db(signal[start:end], joined[start:end]) > snr_db(signal[start:end], one[start:end]) - 1.0
        assert snr_db(signal[start:end], joined[start:end]) > 10.0
    for cut in cuts:  # the pause around each join stays silent
        assert np.abs(joined[cut - mp3file.SILENCE_BEFORE_CUT: cut + mp3file.SILENCE_AFTER_CUT]).max() < 1e-3


def test_joined_header_holds_the_totals_and_both_crcs(whole_and_parts):
    _, _, parts, _ = whole_and_parts
    data = parts.read_bytes()
    xing, flags, tag = mp3file.lame_tag_offsets(data[:512])
    assert flags & 7 == 7 and data[xing:xing + 4] == b"Info" and data[tag:tag + 9] == b"LAME3.100"
    info_length = mp3file.frame_length(data[:4])
    frames = int.from_bytes(data[xing + 8:xing + 12], "big")
    offsets = mp3file.frame_offsets(parts, info_length, frames)  # raises unless exactly `frames` frames follow
    assert int.from_bytes(data[xing + 12:xing + 16], "big") == len(data)
    toc = list(data[xing + 16:xing + 116])
    assert toc[0] == 0 and toc == sorted(toc)
    assert toc[50] == 256 * offsets[frames // 2] // len(data)
    assert int.from_bytes(data[tag + 28:tag + 32], "big") == len(data)
    assert int.from_bytes(data[tag + 32:tag + 34], "big") == mp3file.crc16(data[info_length:])
    assert int.from_bytes(data[tag + 34:tag + 36], "big") == mp3file.crc16(data[:tag + 34])


def test_each_part_is_checked_as_decoded_and_the_checks_measure_the_joined_file(signal, whole_and_parts):
    _, _, parts, meters = whole_and_parts
    assert len(meters) == 4
    ours = loudness.LoudnessMeter.joined(meters)
    assert ours.samples == len(signal)  # every part decoded gapless to its own samples, plus the joins' silence
    reference = ffmpeg.measure_file_ebur128(parts)
    assert ours.integrated_lufs == pytest.approx(reference.integrated_lufs, abs=0.1)
    assert ours.true_peak_dbtp == pytest.approx(reference.true_peak_dbtp, abs=0.2)


def test_same_samples_same_bytes_and_no_part_files_left(signal, whole_and_parts, tmp_path):
    cuts, _, parts, _ = whole_and_parts
    again = tmp_path / "again.mp3"
    encode(signal, again, cuts, meters=False)
    assert again.read_bytes() == parts.read_bytes()
    assert os.listdir(tmp_path) == ["again.mp3"]


def test_an_encoder_that_pads_otherwise_falls_back_to_one_piece(signal, tmp_path, monkeypatch, caplog):
    cuts = cuts_into(signal, 2)
    monkeypatch.setattr(mp3file, "PART_TAIL", mp3file.PART_TAIL - mp3file.FRAME_SAMPLES)  # one frame too many
    dest = tmp_path / "fallback.mp3"
    with caplog.at_level(logging.WARNING):
        meters = encode(signal, dest, cuts)
    assert "encoding in one piece" in caplog.text
    assert len(meters) == 1
    assert mp3file.length_samples(dest) == len(signal)
    assert os.listdir(tmp_path) == ["fallback.mp3"]


@pytest.mark.parametrize("lengths", [(0, 5), (3, 0), (100, 1000), (4097, 70001)])
def test_crc16_of_two_pieces_combines_without_reading_them_again(lengths):
    a, b = os.urandom(lengths[0]), os.urandom(lengths[1])
    assert mp3file.crc16_combine(mp3file.crc16(a), mp3file.crc16(b), len(b)) == mp3file.crc16(a + b)


@pytest.mark.parametrize("length", [44974, 500000, 656649, 12345])
def test_every_reader_gets_exactly_the_samples_encoded(length, tmp_path):
    # ffmpeg writes a LAME padding of at most 1681 samples; where LAME's last flush padded more (these lengths),
    # players would play up to ~40 samples of padding: the padding is set from the count we encoded.
    samples = (RNG.standard_normal(length) * 0.05).astype(np.float32)
    path = tmp_path / "exact.mp3"
    ffmpeg.encode_mp3(samples, RATE, 64, path)
    assert mp3file.length_samples(path) == length
    assert sum(len(block) for block in mp3file.decoded_blocks(path)) == length  # mpg123
    assert ffmpeg.measure_file_ebur128(path).samples == length  # ffmpeg
    assert round(MP3(path).info.length * RATE) == length  # mutagen


def test_parts_over_a_megabyte_join_in_parts_not_in_one_piece(tmp_path, caplog):
    # The joined file's frames are walked a block of 1 MB at a time: a frame that ends past a block must not
    # throw the walk off (it did, and every long episode fell back to one slow encode).
    long = np.concatenate([episode(40)] * 3)  # ~6 min: 2.9 MB of MP3, parts of ~1.4 MB
    cuts = cuts_into(long, 2)
    dest = tmp_path / "long.mp3"
    with caplog.at_level(logging.WARNING):
        meters = encode(long, dest, cuts)
    assert len(meters) == 2 and os.path.getsize(dest) > 2 << 20
    assert "one piece" not in caplog.text
    info_length = mp3file.frame_length(dest.read_bytes()[:4])
    head, xing, _tag = mp3file._info_header(dest)
    offsets = mp3file.frame_offsets(dest, info_length, mp3file._frames(head, xing))
    data = dest.read_bytes()
    assert all(mp3file.frame_length(data[o:o + 4]) > 0 for o in offsets[:: len(offsets) // 500])


def test_a_part_repaired_is_encoded_again_in_its_own_turn(signal, tmp_path):
    # A local repair (assemble's peak dip) re-encodes its part as soon as that part's check asks for it, in the
    # part's own task: on one worker, before any later part is encoded, and the part's result is the new check.
    cuts = cuts_into(signal, 3)
    encoded: list[int] = []

    def read(a: int, b: int):
        encoded.append(next(k for k, start in enumerate([0, *cuts]) if start == a))
        return [signal[a:b]]

    def settle(k, checked, again):
        return again() + 1 if k == 0 and checked == 0 else checked

    def work(parted: ffmpeg.PartedMP3) -> dict:
        checked = parted.encode(read, range(len(parted)), lambda *_: 0, workers=1, settle=settle)
        parted.join()
        return checked

    checked = ffmpeg.in_parts(len(signal), cuts, RATE, 64, tmp_path / "repaired.mp3", work)
    assert encoded == [0, 0, 1, 2] and checked == {0: 1, 1: 0, 2: 0}
    assert mp3file.length_samples(tmp_path / "repaired.mp3") == len(signal)


def test_parts_asked_for_first_are_encoded_first(signal, tmp_path):
    # The parts a music bed plays in are the likeliest to be repaired: they go first, the rest in order.
    cuts = cuts_into(signal, 3)
    encoded: list[int] = []

    def read(a: int, b: int):
        encoded.append([0, *cuts].index(a))
        return [signal[a:b]]

    def work(parted: ffmpeg.PartedMP3) -> None:
        parted.encode(read, range(len(parted)), lambda *_: None, workers=1, first=[2, 2])
        parted.join()

    ffmpeg.in_parts(len(signal), cuts, RATE, 64, tmp_path / "ordered.mp3", work)
    assert encoded == [2, 0, 1]
    assert mp3file.length_samples(tmp_path / "ordered.mp3") == len(signal)

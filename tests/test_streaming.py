"""A long episode is not held in memory: the clips wait in a spool file, the stitched samples and the limiter's
gains live in files beside the episode, and what reaches the listener is the same as when everything was in
memory. The bound itself is checked through the real CLI: a build's peak memory does not grow with the length
of the article."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import wave

import numpy as np
import pytest
from test_assemble import SCRIPT, _write_wav, clips_for, make_script, voice_like
from test_bounded import _peak_rss_mb

from audio_edition.audio import ffmpeg, loudness, mp3file
from audio_edition.audio.assemble import (
    MP3_PEAK_MARGIN_DB,
    EpisodeAssembly,
    assemble_episode,
    episode_gain,
    stitch,
)
from audio_edition.audio.samplefile import SampleFile
from audio_edition.build.article import InScriptOrder
from audio_edition.config import AudioConfig, Config
from audio_edition.models import Clip
from audio_edition.voice.clip_spool import ClipSpool


def test_a_sample_file_reads_and_writes_slices_and_windows(tmp_path):
    with SampleFile(1000, tmp_path) as samples:
        assert np.array_equal(samples[0:1000], np.zeros(1000, np.float32))  # zeros until written
        samples[10:20] = np.arange(10)
        window = samples.window(15, 30)
        window[0:3] = 7.0  # lands in the file the window is part of
        samples[0:5] += 1.0
        assert samples[8:22].tolist() == [0, 0, 0, 1, 2, 3, 4, 7, 7, 7, 8, 9, 0, 0]
        assert samples[0:6].tolist() == [1, 1, 1, 1, 1, 0]
        assert len(samples[990:5000]) == 10 and len(window) == 15
        with pytest.raises(TypeError):
            samples[np.array([1, 2])]  # only contiguous slices: nothing reads the whole file by accident
        gains = SampleFile(0, tmp_path, np.float16)
        stored = gains.append(np.array([0.5, 0.25], dtype=np.float16))
        assert gains.append(np.ones(3, np.float16))[0:3].tolist() == [1, 1, 1] and len(gains) == 5
        assert stored[0:2].tolist() == [0.5, 0.25]
    assert not list(tmp_path.iterdir())  # anonymous files: nothing is left in the folder


def test_the_clip_spool_gives_back_every_clip_as_it_was_in_any_order(tmp_path):
    clips = clips_for(SCRIPT)
    clips[1] = Clip(clips[1].utterance, clips[1].samples.astype(np.float32), 22050)  # float32 as well as int16
    clips[2] = Clip(clips[2].utterance, (clips[2].samples * 32767).astype(np.int16), 16000)
    with ClipSpool(tmp_path) as spool:
        for clip in reversed(clips):  # the pool hands clips over as they are done, longest first
            spool.add(clip)
        assert len(spool) == len(clips) and set(spool) == {c.utterance for c in clips}
        assert spool.sample_rates[22050] == len(clips) - 1 and spool.sample_rates[16000] == 1
        for clip in clips:
            back = spool[clip.utterance]
            assert back.sample_rate == clip.sample_rate and back.samples.dtype == clip.samples.dtype
            assert back.samples.tobytes() == np.asarray(clip.samples).tobytes()
    assert not list(tmp_path.iterdir())


def test_stitching_from_a_spool_into_a_file_gives_the_samples_of_memory(tmp_path):
    clips = clips_for(SCRIPT)
    in_memory = stitch(SCRIPT, clips, Config())
    with ClipSpool(tmp_path) as spool:
        for clip in clips:
            spool.add(clip)
        on_disk = stitch(SCRIPT, spool, Config(), directory=tmp_path)
    assert isinstance(on_disk.samples, SampleFile)
    with on_disk.samples:
        assert on_disk.timeline == in_memory.timeline and on_disk.loudness == in_memory.loudness
        assert np.array_equal(on_disk.samples[:], in_memory.samples)


def test_an_episode_assembled_as_its_clips_come_is_the_episode_of_all_clips_at_once(tmp_path, monkeypatch):
    # The build hands each clip to the assembly as the voice makes it (out of order: two threads), and the first
    # MP3 parts are encoded while later clips are still to come, at the gain of the episode so far. The MP3 must be
    # the very bytes assembled from all the clips at once: where parts are cut and what gain each gets depend on
    # the samples alone, never on when the clips came.
    sentences = [f"Phrase numéro {n} d'un épisode assemblé au fil de l'eau." for n in range(80)]
    script = make_script([("title", ["Au fil de l'eau"]), ("paragraph", sentences)], pause_ms=350)
    clips = [Clip(u.index, voice_like(2.4, level=0.06 + 0.03 * (u.index % 4)), 22050) for u in script.utterances]
    encoded_by: list[str] = []
    real = ffmpeg.encode_part_file
    monkeypatch.setattr(ffmpeg, "encode_part_file",
                        lambda *a: encoded_by.append(threading.current_thread().name) or real(*a))
    at_once = assemble_episode(script, clips, Config(), tmp_path / "at-once", "ep", "v", "piper")
    order = list(clips)
    random.Random(7).shuffle(order)
    order.sort(key=lambda clip: clip.utterance // 4)  # out of order within groups of four, as two threads do
    encoded_by.clear()
    with ClipSpool(tmp_path) as spool, EpisodeAssembly(script, Config(), tmp_path / "as-spoken", "ep", "v", "piper",
                                                       22050) as assembly:
        fed = InScriptOrder(spool, script.utterances, assembly)
        for n, clip in enumerate(order):
            spool.add(clip)
            fed.arrived()
            if n == len(order) // 2:
                time.sleep(0.5)  # the first parts are encoded while the rest is still to come
        fed.finish()
        as_spoken = assembly.finish()
    assert as_spoken.audio_file == at_once.audio_file  # the name is the hash of the bytes
    assert as_spoken.timeline == at_once.timeline
    assert sum(name.startswith("early mp3 part") for name in encoded_by) >= 2
    assert not [p.name for p in (tmp_path / "as-spoken").iterdir() if p.name.endswith(".tmp")]
    # With no core to spare, the same parts at the same gains are encoded once the voice is done: the same bytes.
    encoded_by.clear()
    with EpisodeAssembly(script, Config(), tmp_path / "later", "ep", "v", "piper", 22050,
                         encode_now=False) as assembly:
        for clip in clips:
            assembly.add(clip)
        later = assembly.finish()
    assert later.audio_file == at_once.audio_file
    assert encoded_by and not any(name.startswith("early mp3 part") for name in encoded_by)


def test_the_limiter_gives_the_same_gain_on_a_file_as_on_an_array(tmp_path):
    script = make_script([("title", ["Titre"])] + [("paragraph", [f"Phrase {i}."]) for i in range(12)])
    clips = [Clip(u.index, voice_like(2.0, level=0.05 + 0.08 * (u.index % 4)), 22050) for u in script.utterances]
    stitched = stitch(script, clips, Config())
    samples = stitched.samples
    assert isinstance(samples, np.ndarray)
    with SampleFile(len(samples), tmp_path) as on_disk:
        on_disk[:] = samples
        # loud enough that the limiter works: the plain gain would put the peaks 4 dB over its ceiling
        ceiling = -1.0 - MP3_PEAK_MARGIN_DB
        target = stitched.loudness.integrated_lufs + ceiling - stitched.loudness.true_peak_dbtp + 4.0
        gain = episode_gain(stitched.loudness, stitched.blocks, 44100, target, ceiling)
        from_array = loudness.limiter_curve(samples, 44100, gain, ceiling)
        from_file = loudness.limiter_curve(on_disk, 44100, gain, ceiling)
        assert from_array.regions and from_array.scale == from_file.scale
        assert [(r.start, r.stop) for r in from_array.regions] == [(r.start, r.stop) for r in from_file.regions]
        pieces = np.concatenate(list(from_file.pieces(on_disk)))
        assert np.array_equal(np.concatenate(list(from_array.pieces(samples))), pieces)
        assert loudness.measure(pieces, 44100).true_peak_dbtp <= ceiling + 0.1


def test_an_episode_assembled_from_a_spool_is_the_episode_assembled_from_a_list(tmp_path):
    clips = clips_for(SCRIPT)
    listed = assemble_episode(SCRIPT, clips, Config(), tmp_path / "listed", "ep", "v", "espeak")
    with ClipSpool(tmp_path) as spool:
        for clip in clips:
            spool.add(clip)
        spooled = assemble_episode(SCRIPT, spool, Config(), tmp_path / "spooled", "ep", "v", "espeak")
    assert spooled.audio_file == listed.audio_file  # the file name is the hash of the bytes
    assert (tmp_path / "spooled" / spooled.audio_file).read_bytes() == (tmp_path / "listed" / listed.audio_file).read_bytes()
    assert spooled.audio_bytes == os.path.getsize(tmp_path / "listed" / listed.audio_file)
    leftovers = [p.name for p in (tmp_path / "spooled").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def _council_page(paragraphs: int) -> str:
    subjects = ("Le conseil municipal", "La préfète", "Le syndicat des transports", "L’association des riverains")
    objects = ("le budget des écoles", "le plan de circulation", "la rénovation du marché", "le projet de tramway")
    body = "".join(
        "<p>" + " ".join(f"{subjects[(i + k) % 4]} a présenté {objects[(i * 3 + k) % 4]} lors de la séance numéro "
                         f"{i * 7 + k}, devant une salle comble et attentive." for k in range(3)) + "</p>"
        for i in range(paragraphs))
    return f"<html><body><article><h1>Le compte rendu intégral</h1>{body}</article></body></html>"


@pytest.mark.slow
def test_a_builds_peak_memory_does_not_grow_with_the_length_of_the_article(tmp_path):
    """Ten minutes and an hour of audio, built by the CLI: the hour peaks within 60 MB of the ten minutes (when
    the episode was held in memory it took ~26 MB more per minute: 1.3 GB more here), and under the 1.5 GB bound."""
    config = tmp_path / "audio-edition.toml"
    config.write_text("[limits]\nmax_episode_minutes = 90\n", encoding="utf-8")
    peaks, durations = [], []
    for paragraphs in (30, 180):
        page = tmp_path / f"long-{paragraphs}.html"
        page.write_text(_council_page(paragraphs), encoding="utf-8")
        out = tmp_path / f"out-{paragraphs}"
        proc, peak_mb, _ = _peak_rss_mb(["--config", str(config), "build", str(page), "--out", str(out),
                                         "--engine", "espeak", "--jobs", "1", "--no-cache"], 900)
        assert proc.returncode == 0, proc.stderr
        episode = json.loads(next((out / "episodes").glob("*/episode.json")).read_text(encoding="utf-8"))
        peaks.append(peak_mb)
        durations.append(episode["duration"])
        assert not list((out / "episodes").rglob(".*"))  # no working file left behind
    assert durations[0] < 12 * 60 and durations[1] > 55 * 60, durations
    assert peaks[1] - peaks[0] < 60, peaks
    assert peaks[1] < 1536, peaks


def test_the_pool_hands_each_clip_over_as_soon_as_it_is_spoken(tmp_path):
    # Clips go into the spool while the voice is still speaking the others: none waits for the whole article
    # (they all used to wait in their futures until the last one was done: 2.6 MB of memory a minute of audio).
    from test_engines import piper_spec

    from audio_edition.models import Utterance
    from audio_edition.voice.pool import SynthesisPool

    spec = piper_spec()
    texts = [f"Le conseil a voté la mesure numéro {n}, après un long débat en séance publique." for n in range(100)]
    utterances = [Utterance(n, "paragraph", n, 0, text, text, 300) for n, text in enumerate(texts)]
    spooled_at: list[float] = []
    with SynthesisPool(spec, jobs=2) as pool, ClipSpool(tmp_path) as spool:
        pool.synthesize_into(spool, utterances[:2])  # the voice opened and warm: what follows is speaking only
        started = time.monotonic()
        pool.synthesize_into(spool, utterances[2:], on_clip=lambda _clip: spooled_at.append(time.monotonic()))
        ended = time.monotonic()
        assert len(spool) == len(texts) and sorted(spool) == list(range(len(texts)))
    assert len(spooled_at) == len(texts) - 2
    # the first clip is in the spool long before the last is spoken, and they come in one after another
    assert spooled_at[0] - started < 0.3 * (ended - started), (spooled_at[0] - started, ended - started)
    assert spooled_at[len(spooled_at) // 2] - started < 0.8 * (ended - started)


def _assembled_pausing_halfway(script, config: Config, folder, clips: list[Clip]):
    """EpisodeAssembly fed the clips in order, with a pause halfway: the first parts are encoded while the rest is
    still to come."""
    with EpisodeAssembly(script, config, folder, "ep", "v", "piper", 22050) as assembly:
        for n, clip in enumerate(clips):
            assembly.add(clip)
            if n == len(clips) // 2:
                time.sleep(0.5)
        return assembly.finish()


def test_a_part_encoded_early_is_not_kept_once_its_jingle_is_levelled(tmp_path, monkeypatch):
    # The intro jingle is laid before the voice is heard and levelled against it once every sentence is in: the
    # first part, encoded early with the jingle as the file has it, must be encoded again, even when levelling
    # moves the episode's gain too little for that alone to ask for it. A jingle 5 dB louder than the voice ends,
    # in the MP3, at the voice's level.
    _write_wav(tmp_path / "intro.wav", 2.0)  # -13.5 dBFS RMS: 5 dB over the voice below
    config = Config(audio=AudioConfig(jingle_intro="intro.wav"), base_dir=str(tmp_path))
    sentences = [f"Phrase numéro {n} d'un épisode assemblé au fil de l'eau." for n in range(80)]
    script = make_script([("title", ["Au fil de l'eau"]), ("paragraph", sentences)], pause_ms=350)
    clips = [Clip(u.index, voice_like(2.4, level=0.4), 22050) for u in script.utterances]
    encoded_by: list[str] = []
    real = ffmpeg.encode_part_file
    monkeypatch.setattr(ffmpeg, "encode_part_file",
                        lambda *a: encoded_by.append(threading.current_thread().name) or real(*a))
    episode = _assembled_pausing_halfway(script, config, tmp_path / "ep", clips)
    decoded = np.concatenate(list(mp3file.decoded_blocks(tmp_path / "ep" / episode.audio_file)))
    rate = 44100

    def level(a: float, b: float) -> float:
        piece = decoded[int(a * rate): int(b * rate)].astype(np.float64)
        return 10 * np.log10(np.mean(piece ** 2))

    first = episode.timeline.utterances[1]
    assert sum(name.startswith("early mp3 part") for name in encoded_by) >= 2
    assert abs(level(0.2, 1.8) - level(first.start, first.end)) < 1.5


def test_the_gain_so_far_hears_the_intro_jingle_as_it_will_be_levelled(tmp_path):
    # The first MP3 parts get the gain of the episode so far. The intro jingle is laid as its file has it and
    # levelled against the voice only when every sentence is in: a jingle 20 dB louder than the voice must not
    # weigh in the gain so far as it lies, but as it will be.
    from audio_edition.audio.assemble import Stitcher

    _write_wav(tmp_path / "intro.wav", 2.0)
    config = Config(audio=AudioConfig(jingle_intro="intro.wav"), base_dir=str(tmp_path))
    script = make_script([("title", ["Titre"]), ("paragraph", [f"Phrase {n}." for n in range(30)])], pause_ms=300)
    stitcher = Stitcher(script, config, tmp_path, 22050)
    for u in script.utterances:
        stitcher.add(Clip(u.index, voice_like(2.4, level=0.06), 22050))
    so_far = stitcher.measured_so_far()[0].integrated_lufs
    as_laid = stitcher.meter.so_far().integrated_lufs
    stitched = stitcher.finish()
    assert isinstance(stitched.samples, SampleFile)
    with stitched.samples:
        final = stitched.loudness.integrated_lufs
    assert abs(so_far - final) < 0.05, (so_far, final)
    assert as_laid - final > 1.0  # (the jingle as laid would have weighed: the test means something)


def test_with_a_music_bed_the_first_parts_are_still_encoded_as_the_voice_speaks(tmp_path, monkeypatch):
    # A bed and jingles are laid once every sentence is in, at the start and the end of the episode: the parts
    # between are encoded early, at the gain so far, and kept — and the MP3 is the very bytes of an episode whose
    # parts were all encoded at the end.
    _write_wav(tmp_path / "intro.wav", 2.0)
    _write_wav(tmp_path / "outro.wav", 1.0)
    rate = 48000
    noise = (0.2 * np.random.default_rng(3).standard_normal(rate * 8) * 32767).astype("<i2")
    with wave.open(str(tmp_path / "bed.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(noise.tobytes())
    config = Config(audio=AudioConfig(jingle_intro="intro.wav", jingle_outro="outro.wav", music_bed="bed.wav"),
                    base_dir=str(tmp_path))
    sentences = [f"Phrase numéro {n} d'un épisode sur fond musical." for n in range(80)]
    script = make_script([("intro", ["Bienvenue"]), ("title", ["Sur fond musical"]), ("paragraph", sentences),
                          ("outro", ["À bientôt"])], pause_ms=350)
    clips = [Clip(u.index, voice_like(2.4, level=0.06 + 0.03 * (u.index % 4)), 22050) for u in script.utterances]
    encoded: list[tuple[str, int]] = []
    real = ffmpeg.encode_part_file
    monkeypatch.setattr(ffmpeg, "encode_part_file",
                        lambda *a: encoded.append((threading.current_thread().name, a[1])) or real(*a))
    as_spoken = _assembled_pausing_halfway(script, config, tmp_path / "as-spoken", clips)
    early = {start for name, start in encoded if name.startswith("early mp3 part")}
    again = {start for name, start in encoded if not name.startswith("early mp3 part")}
    assert len(early - again) >= 2, "no part encoded early was kept"
    assert 0 in again  # the part the intro jingle and the bed play in: encoded once they are laid
    with EpisodeAssembly(script, config, tmp_path / "later", "ep", "v", "piper", 22050,
                         encode_now=False) as assembly:
        for clip in clips:
            assembly.add(clip)
        later = assembly.finish()
    assert later.audio_file == as_spoken.audio_file
    assert as_spoken.timeline.utterances[0].start > 2.0  # the jingle, then the bed alone, then the intro's words

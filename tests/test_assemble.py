"""Assembly with real ffmpeg on synthetic clips: timing, joins, loudness, the MP3 file, never overwriting."""

from __future__ import annotations

import json
import re
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mutagen.mp3 import MP3, BitrateMode

from audio_edition.audio import ffmpeg, loudness, mp3file
from audio_edition.audio.assemble import OUTPUT_RATE, assemble_episode, stitch
from audio_edition.config import AudioConfig, Config
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.models import (
    Article,
    Block,
    Clip,
    Script,
    ScriptBlock,
    Section,
    Utterance,
    episode_from_dict,
)
from audio_edition.slug import content_hash, slugify

RNG = np.random.default_rng(7)


def make_script(blocks: list[tuple[str, list[str]]], pause_ms: int = 400) -> Script:
    """blocks: (kind, sentences). A "heading" opens a new section; the first block is the title."""
    script_blocks, sections, utterances = [], [Section(0, blocks[0][1][0])], []
    for b, (kind, sentences) in enumerate(blocks):
        if kind == "heading":
            sections.append(Section(len(sections), sentences[0]))
        script_blocks.append(ScriptBlock(b, kind, " ".join(sentences), len(sections) - 1, b))
        for s, sentence in enumerate(sentences):
            utterances.append(Utterance(len(utterances), kind, b, s, sentence, sentence.lower(), pause_ms))
    article = Article(title=blocks[0][1][0], blocks=tuple(Block("paragraph", t) for _, ss in blocks[1:] for t in ss),
                      byline="Par Jeanne Martin", published="2024-06-18", url="https://example.org/a")
    return Script(article, tuple(script_blocks), tuple(sections), tuple(utterances))


def voice_like(seconds: float, rate: int = 22050, level: float = 0.2, edge_silence: float = 0.0) -> np.ndarray:
    """Speech-like test signal: a voiced buzz with syllable-rate modulation, plus optional silent edges."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    buzz = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 700, 1400), start=1))
    signal = level * buzz * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) / 2 + 0.01 * level * RNG.standard_normal(n)
    pad = np.zeros(int(edge_silence * rate))
    return np.concatenate([pad, signal, pad]).astype(np.float32)


def glottal_like(seconds: float, seed: int, rate: int = 22050) -> np.ndarray:
    """A peakier voice than voice_like: glottal pulses (a decaying 2.5 kHz ring every 1/130 s, as sharp as the
    speech Piper makes), their strength varying from syllable to syllable."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    pulses = np.zeros(n)
    pulses[:: rate // 130] = rng.uniform(0.3, 1.0, len(pulses[:: rate // 130]))
    t = np.arange(int(0.006 * rate)) / rate
    ring = np.sin(2 * np.pi * 2500 * t) * np.exp(-t / 0.0015) + 0.5 * np.sin(2 * np.pi * 600 * t) * np.exp(-t / 0.003)
    signal = np.convolve(pulses, ring)[:n] * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * np.arange(n) / rate))
    return (0.3 * signal / np.abs(signal).max()).astype(np.float32)


SCRIPT = make_script([
    ("title", ["Le titre de l’épisode"]),
    ("paragraph", ["Première phrase du texte.", "Deuxième phrase."]),
    ("heading", ["Un intertitre"]),
    ("paragraph", ["Troisième phrase, plus longue que les autres."]),
])


def clips_for(script: Script, rate: int = 22050, level: float = 0.2, **kw) -> list[Clip]:
    return [Clip(u.index, voice_like(0.4 + len(u.text) / 30, rate, level, **kw), rate) for u in script.utterances]


def rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


def at(samples: np.ndarray, start: float, end: float) -> np.ndarray:
    return samples[int(round(start * OUTPUT_RATE)):int(round(end * OUTPUT_RATE))]


# --- the Timeline ------------------------------------------------------------------------------------------
def test_timeline_places_every_utterance_block_and_section_where_the_audio_is():
    clips = clips_for(SCRIPT, edge_silence=0.2)
    result = stitch(SCRIPT, clips, Config())
    tl, audio = result.timeline, result.samples
    assert tl.duration == round(len(audio) / OUTPUT_RATE, 3)
    assert [s.index for s in tl.utterances] == [u.index for u in SCRIPT.utterances]
    assert [s.text for s in tl.utterances] == [u.text for u in SCRIPT.utterances]  # written text
    for span, nxt in zip(tl.utterances, tl.utterances[1:]):
        assert span.start < span.end
        # the engine's own edge silence is trimmed: the gap is the script's pause (plus the 15 ms kept at each end)
        assert nxt.start - span.end == pytest.approx(0.4, abs=0.002)
    for span, clip in zip(tl.utterances, clips):
        speech = clip.duration - 0.4  # what is left once the 0.2 s silent edges are trimmed
        assert span.end - span.start == pytest.approx(speech + 0.03, abs=0.003)
        assert rms_db(at(audio, span.start + 0.02, span.end - 0.02)) > -30  # speech where the Timeline says
    for span, nxt in zip(tl.utterances, tl.utterances[1:]):
        assert np.max(np.abs(at(audio, span.end + 0.005, nxt.start - 0.005))) < 1e-3  # silence in pauses
    # blocks cover their utterances; sections run back to back from 0 to the end, the heading opens one
    assert [(b.start, b.end) for b in tl.blocks] == [
        (tl.utterances[0].start, tl.utterances[0].end), (tl.utterances[1].start, tl.utterances[2].end),
        (tl.utterances[3].start, tl.utterances[3].end), (tl.utterances[4].start, tl.utterances[4].end)]
    assert [(s.start, s.end, s.text) for s in tl.sections] == [
        (0.0, tl.utterances[3].start, "Le titre de l’épisode"), (tl.utterances[3].start, tl.duration, "Un intertitre")]
    assert all(round(v, 3) == v for s in tl.utterances for v in (s.start, s.end))  # ms precision


@pytest.mark.parametrize("rates", [(22050,), (16000, 22050, 44100)])
def test_clips_at_other_rates_are_resampled_and_stay_in_time(rates):
    # A click in the middle of each clip must come out exactly where the Timeline puts it.
    clips = []
    for u in SCRIPT.utterances:
        rate = rates[u.index % len(rates)]
        x = np.zeros(int(0.5 * rate), dtype=np.float32)
        x[int(0.25 * rate)] = 0.9
        x[:10] = x[-10:] = 0.05  # not silent at the edges, so nothing is trimmed
        clips.append(Clip(u.index, x, rate))
    result = stitch(SCRIPT, clips, Config())
    for span in result.timeline.utterances:
        window = at(result.samples, span.start, span.end)
        assert abs(np.argmax(np.abs(window)) / OUTPUT_RATE - 0.25) < 0.002


def test_joins_have_no_clicks():
    # Worst case: clips that start and end at full DC level. Without fades each join is a step = a click.
    clips = [Clip(u.index, np.full(11025, 0.5, dtype=np.float32), 22050) for u in SCRIPT.utterances]
    result = stitch(SCRIPT, clips, Config())
    for span in result.timeline.utterances:
        for edge in (span.start, span.end):
            i = int(round(edge * OUTPUT_RATE))
            around = result.samples[max(0, i - 441): i + 441]
            assert np.max(np.abs(np.diff(around))) < 0.01  # a 5 ms ramp, not a jump of 0.5


def test_missing_clip_is_an_error():
    with pytest.raises(AudioEditionError, match="no audio for utterance"):
        stitch(SCRIPT, clips_for(SCRIPT)[:-1], Config())


# --- the episode -------------------------------------------------------------------------------------------
def test_episode_folder_with_characters_ffmpeg_treats_as_syntax(tmp_path):
    # ffmpeg writes the MP3 (and its parts) by name: ffmpeg's muxers read | [ ] ' \ as syntax and "x:" as a
    # protocol, and a user's output folder may hold any of them.
    folder = tmp_path / "a|b [c] 'd' e:f \\g"
    episode = assemble_episode(SCRIPT, clips_for(SCRIPT, level=0.02), Config(), folder, "le-titre", "v", "piper")
    mp3 = folder / episode.audio_file
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".mp3") == [episode.audio_file]
    assert mp3file.length_samples(mp3) == round(episode.timeline.duration * OUTPUT_RATE)
    assert abs(MP3(mp3).info.length - episode.timeline.duration) <= 0.001


def test_episode_mp3_is_cbr_mono_44k_at_minus_16_lufs_and_lasts_the_timeline(tmp_path):
    config = Config(audio=AudioConfig(bitrate_kbps=96))
    episode = assemble_episode(SCRIPT, clips_for(SCRIPT, level=0.02), config, tmp_path, "le-titre", "v", "piper")
    mp3 = tmp_path / episode.audio_file
    assert episode.audio_file == f"le-titre-{content_hash(mp3.read_bytes())}.mp3"
    info = MP3(mp3).info
    assert (info.sample_rate, info.channels, info.bitrate_mode) == (44100, 1, BitrateMode.CBR)
    assert abs(info.bitrate - 96000) < 1000
    # The LAME tag carries the encoder delay and padding: players report the exact length (the bar: ±50 ms).
    assert abs(info.length - episode.timeline.duration) <= 0.001
    assert info.encoder_info.startswith("LAME")
    measured = ffmpeg.measure_file_ebur128(mp3)  # independent: ebur128 on the decoded MP3
    assert -17.0 <= measured.integrated_lufs <= -15.0
    assert measured.true_peak_dbtp <= -1.0
    assert measured.samples == round(episode.timeline.duration * OUTPUT_RATE)  # sample-exact
    assert episode.audio_bytes == mp3.stat().st_size
    assert set(episode.files) == {"vtt", "srt", "chapters", "episode"}
    for name in episode.files.values():
        assert (tmp_path / name).is_file()
    saved = episode_from_dict(json.loads((tmp_path / "episode.json").read_text(encoding="utf-8")), str(tmp_path))
    assert saved.timeline == episode.timeline and saved.script == episode.script
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_loudness_is_set_for_the_whole_episode_not_per_sentence(tmp_path):
    # One sentence is 12 dB quieter than the rest: it must stay about 12 dB quieter after normalisation.
    clips = clips_for(SCRIPT, level=0.2)
    quiet = 4
    clips[quiet] = Clip(quiet, clips[quiet].samples / 4, clips[quiet].sample_rate)
    episode = assemble_episode(SCRIPT, clips, Config(), tmp_path, "niveaux", "v", "piper")
    audio = ffmpeg.decode_file(tmp_path / episode.audio_file, OUTPUT_RATE)
    spans = episode.timeline.utterances
    loud = np.concatenate([at(audio, s.start + 0.05, s.end - 0.05) for s in spans if s.index != quiet])
    soft = at(audio, spans[quiet].start + 0.05, spans[quiet].end - 0.05)
    assert rms_db(loud) - rms_db(soft) == pytest.approx(12.0, abs=1.5)


def test_a_published_mp3_is_never_overwritten(tmp_path):
    first = assemble_episode(SCRIPT, clips_for(SCRIPT), Config(), tmp_path, "ep", "v", "piper")
    mp3 = tmp_path / first.audio_file
    before = (mp3.read_bytes(), mp3.stat().st_mtime_ns, mp3.stat().st_ino)
    again = assemble_episode(SCRIPT, [Clip(c.utterance, c.samples, c.sample_rate) for c in
                                      clips_for(SCRIPT)], Config(), tmp_path, "ep", "v", "piper")
    other = assemble_episode(SCRIPT, clips_for(SCRIPT, rate=16000), Config(), tmp_path, "ep", "v", "piper")
    assert other.audio_file != first.audio_file
    assert (mp3.read_bytes(), mp3.stat().st_mtime_ns, mp3.stat().st_ino) == before
    assert sorted(p.name for p in tmp_path.glob("*.mp3")) == sorted({first.audio_file, again.audio_file,
                                                                     other.audio_file})


def _write_wav(path: Path, seconds: float, rate: int = 48000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    data = (0.3 * np.sin(2 * np.pi * 523 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(data, 2).tobytes())


def test_jingles_open_and_close_the_episode_and_shift_the_timeline(tmp_path):
    _write_wav(tmp_path / "intro.wav", 1.0)
    _write_wav(tmp_path / "outro.wav", 0.5)
    config = Config(audio=AudioConfig(jingle_intro="intro.wav", jingle_outro="outro.wav"), base_dir=str(tmp_path))
    plain = stitch(SCRIPT, clips_for(SCRIPT), Config())
    with_jingles = stitch(SCRIPT, clips_for(SCRIPT), config)
    shift = with_jingles.timeline.utterances[0].start - plain.timeline.utterances[0].start
    assert shift == pytest.approx(1.0 + 0.4, abs=0.002)  # jingle + gap
    assert with_jingles.timeline.duration == pytest.approx(plain.timeline.duration + 1.4 + 0.5, abs=0.002)
    assert with_jingles.timeline.sections[0].start == 0.0  # the opening chapter includes the intro jingle
    assert rms_db(at(with_jingles.samples, 0.1, 0.9)) > -40  # the jingle is there, stereo 48 kHz read fine
    missing = Config(audio=AudioConfig(jingle_intro="nope.wav"), base_dir=str(tmp_path))
    with pytest.raises(InputError, match="jingle intro not found"):
        stitch(SCRIPT, clips_for(SCRIPT), missing)
    (tmp_path / "broken.mp3").write_bytes(b"this is no audio" * 100)
    broken = Config(audio=AudioConfig(jingle_outro="broken.mp3"), base_dir=str(tmp_path))
    with pytest.raises(InputError, match="jingle outro is not audio"):
        stitch(SCRIPT, clips_for(SCRIPT), broken)


def _voice_and_jingle_db(stitched) -> tuple[float, float, float]:
    """(the voice's RMS level over its sentences, the intro jingle's, the outro jingle's) in a stitched episode
    with a 1 s intro jingle and a 0.5 s outro jingle."""
    speech = np.concatenate([at(stitched.samples, u.start, u.end) for u in stitched.timeline.utterances])
    end = stitched.timeline.duration
    return rms_db(speech), rms_db(at(stitched.samples, 0.05, 0.95)), rms_db(at(stitched.samples, end - 0.45, end - 0.1))


def test_jingles_sit_at_the_same_level_against_any_voice(tmp_path):
    # A jingle is levelled against the voice (jingle_level_db, 0 dB by default): the same file sits at the same
    # place beside a quiet voice and a loud one, instead of taking the voice's normalising gain (+17 dB on a
    # quiet real voice, which crushed a mastered jingle in the limiter), and the setting moves it.
    _write_wav(tmp_path / "intro.wav", 1.0)
    _write_wav(tmp_path / "outro.wav", 0.5)
    for level_db in (0.0, -6.0):
        config = Config(audio=AudioConfig(jingle_intro="intro.wav", jingle_outro="outro.wav", jingle_level_db=level_db),
                        base_dir=str(tmp_path))
        for voice_level in (0.02, 0.3):
            stitched = stitch(SCRIPT, clips_for(SCRIPT, level=voice_level), config)
            voice, intro, outro = _voice_and_jingle_db(stitched)
            assert intro - voice == pytest.approx(level_db, abs=0.5)
            assert outro - voice == pytest.approx(level_db, abs=0.5)
            whole = loudness.measure(stitched.samples, OUTPUT_RATE)  # measured again where the jingle changed
            assert stitched.loudness.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-3)
            assert stitched.loudness.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=1e-3)


# --- slugs -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("title, slug", [
    ("Désespéré de munitions, Vladimir Poutine sollicite l’aide de Kim", ("desespere-de-munitions-vladimir-poutine-"
                                                                         "sollicite-l-aide-de-kim")),
    ("Œuvres & cœurs : 100 % garantis !", "oeuvres-et-coeurs-100-pour-cent-garantis"),
    ("../../etc/passwd", "etc-passwd"),
    ("..", "episode"),
    ("", "episode"),
    ("CON", "con-episode"),
    ("北朝鮮", "episode"),
    ("a\x00b/c\\d", "a-b-c-d"),
])
def test_slugify_gives_safe_ascii_names(title, slug):
    assert slugify(title) == slug


def test_slug_is_cut_at_a_word_boundary():
    slug = slugify("mot " * 50)
    assert len(slug) <= 80 and slug.endswith("mot") and not slug.endswith("-")
    assert len(slugify("x" * 200)) == 80


def test_other_mp3_sample_rates_are_honoured_and_odd_ones_refused(tmp_path):
    config = Config(audio=AudioConfig(sample_rate=48000))
    episode = assemble_episode(SCRIPT, clips_for(SCRIPT), config, tmp_path, "ep48", "v", "piper")
    info = MP3(tmp_path / episode.audio_file).info
    assert info.sample_rate == 48000 and abs(info.length - episode.timeline.duration) <= 0.05
    with pytest.raises(InputError, match="sample_rate"):
        assemble_episode(SCRIPT, clips_for(SCRIPT), Config(audio=AudioConfig(sample_rate=22050)), tmp_path, "x",
                         "v", "piper")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_title_gives_a_safe_file_name(title):
    slug = slugify(title)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) and len(slug) <= 80
    assert slug.split("-")[0] not in {"con", "prn", "aux", "nul"} or "-" in slug


def test_voice_at_the_output_rate_and_16_bit_clips_stitch_like_float_ones():
    # A 44.1 kHz voice needs no resampling (its clips go straight into the episode); 16-bit clips (what the
    # synthesis pool and the clip cache give) must sound exactly like the float clips they came from.
    from audio_edition.models import to_pcm16

    for rate in (OUTPUT_RATE, 22050):
        floats = clips_for(SCRIPT, rate=rate)
        pcm = [Clip(c.utterance, to_pcm16(c.samples), c.sample_rate) for c in floats]
        a, b = stitch(SCRIPT, floats, Config()), stitch(SCRIPT, pcm, Config())
        assert a.timeline == b.timeline and len(a.samples) == len(b.samples)
        assert np.max(np.abs(a.samples - b.samples)) < 2e-4  # 16-bit rounding, nothing more
        assert rms_db(a.samples) > -40  # speech is there, not a square wave nor silence


def test_a_long_episode_is_encoded_in_parts_that_play_as_one(tmp_path, monkeypatch):
    # Over 5 minutes, the MP3 is encoded as parts of about a minute (cut in pauses; the first ones while the
    # episode is still being stitched) and joined: listeners must get one MP3 that lasts the Timeline to the
    # sample, on target, with every sentence where the Timeline says.
    sentences = [f"Phrase numéro {n} du long épisode, dite à voix haute." for n in range(110)]
    script = make_script([("title", ["Un long épisode"]), ("paragraph", sentences)], pause_ms=350)
    clips = [Clip(u.index, voice_like(2.4, level=0.1), 22050) for u in script.utterances]
    cuts_used = []
    real = ffmpeg.PartedMP3.__init__
    monkeypatch.setattr(ffmpeg.PartedMP3, "__init__", lambda self, *a: cuts_used.append(a[1]) or real(self, *a))
    episode = assemble_episode(script, clips, Config(), tmp_path, "long", "v", "piper")
    assert episode.timeline.duration > 300 and len(cuts_used[-1]) == 4
    share = mp3file.part_share(OUTPUT_RATE)
    assert all(abs(cut - (n + 1) * share) < share // 2 for n, cut in enumerate(cuts_used[-1]))
    mp3 = tmp_path / episode.audio_file
    measured = ffmpeg.measure_file_ebur128(mp3)
    assert measured.samples == round(episode.timeline.duration * OUTPUT_RATE) == mp3file.length_samples(mp3)
    assert -16.5 <= measured.integrated_lufs <= -15.5 and measured.true_peak_dbtp <= -1.0
    audio = ffmpeg.decode_file(mp3, OUTPUT_RATE)
    for cut in cuts_used[-1]:
        after = [s for s in episode.timeline.utterances if s.start > cut / OUTPUT_RATE][:4]
        for span, following in zip(after, after[1:]):  # speech where the Timeline has it, silence between
            assert rms_db(at(audio, span.start + 0.02, span.end - 0.02)) > -30
            assert rms_db(at(audio, span.end + 0.03, following.start - 0.03)) < -70


def _peaky_episode(tmp_path, monkeypatch) -> tuple[Path, list]:
    """A peaky voice's episode assembled with almost no room left for the encoder (the limiter aiming 0.2 dB under
    the limit): its MP3, and where each part LAME encoded starts, in order (a part encoded again is listed
    again)."""
    from audio_edition.audio import assemble

    monkeypatch.setattr(assemble, "MP3_PEAK_MARGIN_DB", 0.2)
    sentences = [f"Phrase numéro {n}, assez longue pour le test." for n in range(100)]
    script = make_script([("title", ["Des crêtes"]), ("paragraph", sentences)], pause_ms=350)
    clips = [Clip(u.index, glottal_like(2.4, seed=u.index), 22050) for u in script.utterances]
    encoded: list = []
    real = ffmpeg.encode_part_file
    monkeypatch.setattr(ffmpeg, "encode_part_file", lambda *a: encoded.append(a[1]) or real(*a))
    episode = assemble_episode(script, clips, Config(), tmp_path, "peaks", "v", "piper")
    return tmp_path / episode.audio_file, encoded


def test_peaks_the_encoder_pushes_over_are_repaired_in_their_part_only(tmp_path, monkeypatch):
    # With almost no room left for the encoder, LAME pushes some true peaks of a peaky voice over -1 dBTP. Those
    # peaks get a short dip and only the parts that hold them are encoded again: the MP3 ends under the limit, on
    # the loudness target, after fewer part encodes than a second whole pass.
    mp3, encoded = _peaky_episode(tmp_path, monkeypatch)
    measured = ffmpeg.measure_file_ebur128(mp3)
    assert measured.true_peak_dbtp <= -1.0 and -16.5 <= measured.integrated_lufs <= -15.5
    parts = len(set(encoded))
    assert parts == 5 and parts < len(encoded) < 2 * parts  # some parts again, not all of them


def test_stitching_measures_the_loudness_of_what_it_wrote():
    # The loudness is measured while the resampler fills the episode (a thread follows it): it must be the
    # measure of the finished samples, for a short episode and for one of many resampler reads.

    sentences = [f"Phrase {n}." for n in range(20)]
    longer = make_script([("title", ["Titre"]), ("paragraph", sentences)])
    for script in (SCRIPT, longer):
        stitched = stitch(script, [Clip(u.index, voice_like(2.4, level=0.1 + 0.02 * (u.index % 5)), 22050)
                                   for u in script.utterances], Config())
        whole = loudness.measure(stitched.samples, OUTPUT_RATE)
        assert stitched.loudness.samples == len(stitched.samples)
        assert stitched.loudness.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-4)
        assert stitched.loudness.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=1e-4)


def test_too_many_peaks_over_lower_the_whole_gain_instead(tmp_path, monkeypatch):
    # When the encoder pushes peaks over the limit all through the episode, dips one by one are not the fix: the
    # whole gain is lowered and every part encoded again, and the MP3 still ends under the limit and on target.
    from audio_edition.audio import assemble

    monkeypatch.setattr(assemble, "MAX_REPAIRED_PEAKS", 0)
    mp3, encoded = _peaky_episode(tmp_path, monkeypatch)
    measured = ffmpeg.measure_file_ebur128(mp3)
    assert measured.true_peak_dbtp <= -1.0 and -16.5 <= measured.integrated_lufs <= -15.5
    assert len(encoded) == 2 * len(set(encoded))  # every part twice: once as planned, once with the lower gain

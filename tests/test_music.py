"""Jingles and a music bed, through the real CLI with the tiny Piper voice: an Ogg intro jingle, an M4A outro
jingle and an MP3 bed, decoded and resampled by pydub. Measured on the decoded MP3 at Timeline positions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from test_build_e2e import ARTICLE_HTML

from audio_edition.audio import ffmpeg, mp3file

BED_HZ = 6000  # a tone: its level is read in one narrow band, under the voice too


def _make(path: Path, source: str, seconds: float, *codec: str) -> None:
    subprocess.run([ffmpeg.ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"{source}:duration={seconds}:sample_rate=48000", "-ac", "2", *codec, str(path)],
                   check=True, timeout=60)


def _build(root: Path, music: bool) -> tuple[Path, dict]:
    from conftest import TINY_VOICE

    root.mkdir(parents=True, exist_ok=True)
    (root / "tramway.html").write_text(ARTICLE_HTML, encoding="utf-8")
    if music:
        _make(root / "intro.ogg", "sine=frequency=523", 1.5, "-c:a", "libvorbis")
        _make(root / "outro.m4a", "sine=frequency=392", 1.0, "-c:a", "aac")
        _make(root / "bed.mp3", f"sine=frequency={BED_HZ}", 3.0, "-c:a", "libmp3lame")  # looped: shorter than a bed
        (root / "audio-edition.toml").write_text(
            '[script]\nintro_template = "{title}. Une édition audio lue par une voix de synthèse."\n'
            '[audio]\njingle_intro = "intro.ogg"\njingle_outro = "outro.m4a"\nmusic_bed = "bed.mp3"\n', encoding="utf-8")
    result = run_cli("build", str(root / "tramway.html"), "--out", str(root / "out"), "--voice", str(TINY_VOICE),
                     "--jobs", "1", cwd=root)
    assert result.code == 0, result.stderr
    (directory,) = (root / "out" / "episodes").iterdir()
    return directory, json.loads((directory / "episode.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    return _build(root / "plain", music=False), _build(root / "music", music=True)


def _tone_db(samples: np.ndarray, rate: int, start: float, end: float) -> float:
    """Level (dB) of the bed's tone between START and END seconds, from one narrow band of the spectrum."""
    piece = samples[int(start * rate):int(end * rate)]
    window = np.hanning(len(piece))
    spectrum = np.abs(np.fft.rfft(piece * window))
    freqs = np.fft.rfftfreq(len(piece), 1 / rate)
    band = spectrum[(freqs > BED_HZ - 30) & (freqs < BED_HZ + 30)]
    return float(20 * np.log10(band.max() * 2 / window.sum() + 1e-12))


def test_bed_is_heard_in_the_intro_pauses_and_ducked_under_speech(builds):
    _, (directory, episode) = builds
    (mp3,) = directory.glob("*.mp3")
    samples = np.concatenate(list(mp3file.decoded_blocks(mp3)))
    rate = 44100
    utterances = [(u["kind"], span) for u, span in zip(episode["script"]["utterances"],
                                                      episode["timeline"]["utterances"])]
    intro = [span for kind, span in utterances if kind == "intro"]
    first_word = intro[0]["start"]
    assert first_word >= 1.5 + 0.4 + 2.0 - 0.01  # Ogg jingle, gap, the bed alone for 2 s
    lead = _tone_db(samples, rate, first_word - 1.2, first_word - 0.2)
    under = [_tone_db(samples, rate, s["start"] + 0.1, s["end"] - 0.1) for s in intro if s["end"] - s["start"] > 0.4]
    title = next(span for kind, span in utterances if kind == "title")
    pauses = [(a["end"] + 0.16, b["start"] - 0.16) for a, b in zip(intro, [*intro[1:], title])]
    in_pauses = [_tone_db(samples, rate, a, b) for a, b in pauses if b - a > 0.1]
    print(f"\nbed: lead {lead:.1f} dB, pauses {[round(x, 1) for x in in_pauses]}, under speech {[round(x, 1) for x in under]}")
    assert under and lead > -45  # audible before the voice...
    assert all(level > -45 for level in in_pauses)  # ...and in the intro's pauses
    assert all(lead - level >= 15 for level in under), (lead, under)  # at least 15 dB lower under the voice
    # nothing of the bed in the body of the article
    body = [span for kind, span in utterances if kind == "paragraph"]
    assert _tone_db(samples, rate, body[0]["start"], body[-1]["end"]) < lead - 30
    # the outro's bed, and the M4A jingle at the very end
    outro = [span for kind, span in utterances if kind == "outro"]
    assert _tone_db(samples, rate, outro[-1]["end"] + 0.3, outro[-1]["end"] + 1.2) > -45
    assert episode["timeline"]["duration"] >= outro[-1]["end"] + 2.0 + 1.0 - 0.01


def test_loudness_and_transcripts_still_exact_with_jingles_and_bed(builds):
    (plain_dir, plain), (directory, episode) = builds
    plain_spans = plain["timeline"]["utterances"]
    plain["timeline"]["utterances"] = [s for u, s in zip(plain["script"]["utterances"], plain_spans)
                                       if u["kind"] != "intro"]
    episode["timeline"]["utterances"] = [s for u, s in zip(episode["script"]["utterances"],
                                                           episode["timeline"]["utterances"]) if u["kind"] != "intro"]
    (mp3,) = directory.glob("*.mp3")
    measured = ffmpeg.measure_file_ebur128(mp3)
    print(f"\n{measured.integrated_lufs:.2f} LUFS, true peak {measured.true_peak_dbtp:.2f} dBTP")
    assert abs(measured.integrated_lufs - (-16.0)) <= 0.5
    assert measured.samples == round(episode["timeline"]["duration"] * 44100)
    # every utterance after the intro (whose wording differs) sits where it sat without music, moved by one offset
    offset = episode["timeline"]["utterances"][0]["start"] - plain["timeline"]["utterances"][0]["start"]
    assert offset > 1.5 + 0.4 + 2.0  # the jingle, its gap and the bed's lead at least
    for a, b in zip(plain["timeline"]["utterances"], episode["timeline"]["utterances"]):
        assert b["start"] - a["start"] == pytest.approx(offset, abs=0.002)
        assert b["end"] - b["start"] == pytest.approx(a["end"] - a["start"], abs=0.002)
    # the VTT cues are the Timeline's: on the speech
    vtt = (directory / "transcript.vtt").read_text(encoding="utf-8")
    first = episode["timeline"]["utterances"][0]  # the title
    start = f"{int(first['start'] // 60):02d}:{first['start'] % 60:06.3f}"
    assert start in vtt


def test_jingles_are_decoded_once_while_the_articles_are_read(tmp_path, monkeypatch):
    # The build decodes its jingles and bed ahead (assemble.warm_up_assembly), so that the first episode's
    # assembly does not hold the voice back; every episode then takes them from there, and a file changed in
    # between is decoded again.
    from audio_edition.audio import music
    from audio_edition.config import AudioConfig, Config

    decoded: list[str] = []
    real = music._decode
    monkeypatch.setattr(music, "_decode", lambda path, *a: decoded.append(path.name) or real(path, *a))
    _make(tmp_path / "intro.ogg", "sine=frequency=523", 1.0, "-c:a", "libvorbis")
    _make(tmp_path / "bed.mp3", "sine=frequency=300", 2.0, "-c:a", "libmp3lame")
    config = Config(audio=AudioConfig(jingle_intro="intro.ogg", music_bed="bed.mp3"), base_dir=str(tmp_path))
    music.decode_ahead(config)
    assert sorted(decoded) == ["bed.mp3", "intro.ogg"]
    first = music.load_audio(tmp_path / "intro.ogg", 44100, "jingle intro")
    assert len(decoded) == 2 and not first.flags.writeable  # shared: no episode may change it in place
    assert abs(len(first) - 44100) < 2000
    _make(tmp_path / "intro.ogg", "sine=frequency=523", 2.0, "-c:a", "libvorbis")
    again = music.load_audio(tmp_path / "intro.ogg", 44100, "jingle intro")
    assert decoded[-1] == "intro.ogg" and len(decoded) == 3 and len(again) > 1.5 * len(first)

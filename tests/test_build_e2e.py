"""`audio-edition build` end to end, through the real CLI: Piper (tiny test voice) and espeak-ng, real ffmpeg.

What a listener and a podcast app get: an MP3 that decodes, CBR 44.1 kHz mono, as long as the Timeline says,
at -16 LUFS with headroom, ID3v2.3 chapters at the Timeline's times, valid transcripts and chapters.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FILLER, run_cli
from mutagen.id3 import ID3
from mutagen.mp3 import MP3, BitrateMode
from test_transcripts import check_chapters, check_cues, parse_vtt

from audio_edition.audio import ffmpeg
from audio_edition.models import episode_from_dict

ARTICLE_HTML = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<title>Le tramway de Grenoble roulera la nuit dès l’été – Le Journal</title>
<meta property="og:url" content="https://journal.example/2024/05/21/tramway-nuit">
<meta property="og:site_name" content="Le Journal">
<meta property="article:published_time" content="2024-05-21T06:00:00+02:00">
<meta name="author" content="Claire Dubois">
</head><body>
<nav><a href="/">Accueil</a></nav>
<article>
<h1>Le tramway de Grenoble roulera la nuit dès l’été</h1>
<p class="chapo">La métropole teste un service nocturne le week-end, à partir du 21/06/2024.</p>
<p>Les rames circuleront jusqu’à 2h30 du vendredi au dimanche. Le coût est estimé à 1,2 M€ par an. La ligne A
sera la première desservie.</p>
<h2>Des usagers partagés</h2>
<p>« C’est une bonne nouvelle pour les étudiants », estime une usagère. Les riverains, eux, craignent le bruit.</p>
</article>
<footer>© Le Journal</footer>
</body></html>
"""

SECOND_ARTICLE = f"""Le marché couvert rouvre ses portes

Après deux ans de travaux, le marché couvert accueille de nouveau les clients ce samedi.

Une trentaine de commerçants y sont installés.

{FILLER}
"""


def _episode(out: Path, slug_part: str) -> tuple[Path, dict]:
    (directory,) = [d for d in (out / "episodes").iterdir() if slug_part in d.name]
    data = json.loads((directory / "episode.json").read_text(encoding="utf-8"))
    return directory, data


@pytest.fixture(scope="module")
def piper_build(tmp_path_factory):
    from conftest import TINY_VOICE

    root = tmp_path_factory.mktemp("piper")
    articles = root / "articles"
    articles.mkdir()
    (articles / "tramway.html").write_text(ARTICLE_HTML, encoding="utf-8")
    (articles / "marche.txt").write_text(SECOND_ARTICLE, encoding="utf-8")
    result = run_cli("build", str(articles), "--out", str(root / "out"), "--voice", str(TINY_VOICE),
                     "--jobs", "2", cwd=root)
    assert result.code == 0, result.stderr
    return root, result


def test_build_says_which_engine_and_summarises(piper_build):
    root, result = piper_build
    assert "piper" in result.stderr and "fr_FR-tiny-test" in result.stderr
    assert "WARNING" not in result.stderr
    assert "2 episode(s) built, 0 unchanged" in result.stdout
    assert "real-time factor" in result.stdout and "wall time" in result.stdout
    assert (root / "out" / "feed.xml").is_file()  # published once at the end


def test_piper_episode_audio_meets_the_bar(piper_build):
    root, _ = piper_build
    directory, data = _episode(root / "out", "tramway")
    episode = episode_from_dict(data, str(directory))
    mp3 = directory / episode.audio_file
    assert mp3.name.startswith(directory.name + "-") and mp3.suffix == ".mp3"
    info = MP3(mp3).info
    assert (info.sample_rate, info.channels, info.bitrate_mode) == (44100, 1, BitrateMode.CBR)
    assert abs(info.bitrate - 64000) < 1000
    decoded = ffmpeg.decode_file(mp3, 44100)  # it decodes
    assert abs(len(decoded) / 44100 - episode.timeline.duration) <= 0.05
    assert abs(info.length - episode.timeline.duration) <= 0.05  # what players report (LAME delay/padding read)
    loudness = ffmpeg.measure_file_ebur128(mp3)  # independent of the loudnorm used to build it
    assert -17.0 <= loudness.integrated_lufs <= -15.0
    assert loudness.true_peak_dbtp <= -1.0
    assert episode.engine == "piper" and episode.voice == "fr_FR-tiny-test"


def test_piper_episode_chapters_tags_and_transcripts_follow_the_timeline(piper_build):
    root, _ = piper_build
    directory, data = _episode(root / "out", "tramway")
    episode = episode_from_dict(data, str(directory))
    timeline, script = episode.timeline, episode.script
    assert len(script.sections) == 2 and timeline.sections[1].text == "Des usagers partagés"

    mp3 = directory / episode.audio_file
    assert mp3.read_bytes()[:4] == b"ID3\x03"
    tags = ID3(mp3, translate=False)
    assert tags["TIT2"].text == ["Le tramway de Grenoble roulera la nuit dès l’été"]
    assert tags["TCON"].text == ["Podcast"] and tags["TLAN"].text == ["fra"]
    chapters = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    assert [(c.start_time, c.end_time, c.sub_frames["TIT2"].text[0]) for c in chapters] == [
        (round(s.start * 1000), round(s.end * 1000), s.text) for s in timeline.sections]

    vtt = (directory / "transcript.vtt").read_text(encoding="utf-8")
    cues = parse_vtt(vtt)
    check_cues(cues, len(ffmpeg.decode_file(mp3, 44100)) / 44100)
    for utterance in script.utterances:  # one or more cues per sentence, inside its span
        span = timeline.utterances[utterance.index]
        mine = [c for c in cues if c.identifier.split(".")[0] == f"u{utterance.index}"]
        assert mine and mine[0].start == span.start and mine[-1].end == span.end
    # The written text, not the spoken spelling: "2h30" and "1,2 M€" as printed.
    assert "2h30" in vtt and "1,2 M€" in vtt
    assert not any("deux heures trente" in c.text for c in cues)
    srt = (directory / "transcript.srt").read_text(encoding="utf-8")
    assert srt.count(" --> ") == len(cues)
    check_chapters(json.loads((directory / "chapters.json").read_text(encoding="utf-8")), timeline)


def test_rebuilding_unchanged_articles_speaks_nothing_and_keeps_the_files(piper_build):
    from conftest import TINY_VOICE

    root, _ = piper_build
    directory, data = _episode(root / "out", "tramway")
    mp3 = directory / data["audio_file"]
    before = mp3.stat().st_mtime_ns
    again = run_cli("build", str(root / "articles"), "--out", str(root / "out"), "--voice", str(TINY_VOICE),
                    "--jobs", "1", cwd=root)
    assert again.code == 0, again.stderr
    assert "0 episode(s) built, 2 unchanged" in again.stdout
    assert mp3.stat().st_mtime_ns == before


def test_espeak_episode_is_silent_in_pauses_and_speaks_in_utterances(tmp_path):
    source = tmp_path / "tramway.html"
    source.write_text(ARTICLE_HTML, encoding="utf-8")
    result = run_cli("build", str(source), "--out", str(tmp_path / "out"), "--engine", "espeak", "--jobs", "1",
                     cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "espeak" in result.stderr
    directory, data = _episode(tmp_path / "out", "tramway")
    episode = episode_from_dict(data, str(directory))
    mp3 = directory / episode.audio_file
    audio = ffmpeg.decode_file(mp3, 44100)
    assert abs(len(audio) / 44100 - episode.timeline.duration) <= 0.05
    loudness = ffmpeg.measure_file_ebur128(mp3)
    assert -17.0 <= loudness.integrated_lufs <= -15.0 and loudness.true_peak_dbtp <= -1.0

    def level_db(start: float, end: float) -> float:
        part = audio[int(start * 44100):int(end * 44100)].astype(np.float64)
        return 20 * np.log10(np.sqrt(np.mean(part ** 2)) + 1e-12)

    spans = episode.timeline.utterances
    margin = 0.03  # MP3 frames smear a few ms of sound across an edge
    ends = [s.start for s in spans[1:]] + [episode.timeline.duration]  # the last pause runs to the end
    pauses = [(span.end + margin, end - margin) for span, end, u in zip(spans, ends, episode.script.utterances)
              if u.pause_after_ms >= 100]
    assert len(pauses) >= len(spans) // 2 and all(end - start > 0.1 for start, end in pauses)
    for start, end in pauses:
        assert level_db(start, end) < -60, f"sound in the pause {start:.3f}-{end:.3f}"
    for span in spans:
        assert level_db(span.start, span.end) > -35, f"utterance {span.index} is silent"


def test_without_any_voice_the_build_falls_back_to_espeak_loudly(tmp_path):
    source = tmp_path / "marche.txt"
    source.write_text(SECOND_ARTICLE, encoding="utf-8")
    result = run_cli("build", str(source), "--out", str(tmp_path / "out"), "--jobs", "1", cwd=tmp_path,
                     env={"XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)})
    assert result.code == 0, result.stderr
    assert "WARNING" in result.stderr and "espeak" in result.stderr
    _, data = _episode(tmp_path / "out", "marche")
    assert data["engine"] == "espeak"


@pytest.mark.parametrize("args", [["missing.html"], ["empty"]])
def test_bad_input_stops_with_one_line(tmp_path, args):
    (tmp_path / "empty").mkdir()
    result = run_cli("build", *args, "--out", str(tmp_path / "out"), "--engine", "espeak", cwd=tmp_path)
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "episodes").exists()


def test_a_bad_audio_setting_is_refused_before_any_synthesis(tmp_path):
    (tmp_path / "a.txt").write_text(SECOND_ARTICLE, encoding="utf-8")
    (tmp_path / "audio-edition.toml").write_text('[audio]\njingle_intro = "jingles/absent.wav"\n', encoding="utf-8")
    result = run_cli("build", "a.txt", "--out", "out", "--engine", "espeak", cwd=tmp_path)
    assert result.code == 2
    assert "jingle intro not found" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "episodes").exists()

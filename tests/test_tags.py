"""ID3v2.3 tags as podcast apps read them: metadata, cover, and one chapter per section at the Timeline's times."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from mutagen.id3 import ID3, CTOCFlags
from PIL import Image

from audio_edition.audio import ffmpeg
from audio_edition.audio.tags import write_tags
from audio_edition.config import Config, PodcastConfig
from audio_edition.errors import InputError
from audio_edition.models import Article, Block, Script, ScriptBlock, Section, Span, Timeline, Utterance

ARTICLE = Article(
    title="Désespéré de munitions, Poutine sollicite Kim & co",
    blocks=(Block("paragraph", "Texte."), Block("heading", "La visite"), Block("paragraph", "Suite.")),
    standfirst="Le président russe se rend en Corée du Nord.",
    byline="Par Choe Sang-Hun",
    site_name="La Nación",
    published="2024-06-18T07:30:00+02:00",
    url="https://example.org/monde/poutine-kim?id=1&x=2",
)
SCRIPT = Script(
    ARTICLE,
    (ScriptBlock(0, "title", ARTICLE.title, 0), ScriptBlock(1, "paragraph", "Texte.", 0, 0),
     ScriptBlock(2, "heading", "La visite", 1, 1), ScriptBlock(3, "paragraph", "Suite.", 1, 2)),
    (Section(0, ARTICLE.title), Section(1, "La visite")),
    tuple(Utterance(i, "paragraph", i, 0, t, t, 300) for i, t in enumerate([ARTICLE.title, "Texte.", "La visite",
                                                                            "Suite."])),
)
TIMELINE = Timeline(
    utterances=(Span(0, 0.0, 1.2), Span(1, 1.5, 2.25), Span(2, 2.551, 3.3), Span(3, 3.6, 4.8)),
    blocks=(Span(0, 0.0, 1.2), Span(1, 1.5, 2.25), Span(2, 2.551, 3.3), Span(3, 3.6, 4.8)),
    sections=(Span(0, 0.0, 2.551, ARTICLE.title), Span(1, 2.551, 5.1, "La visite")),
    duration=5.1,
)


@pytest.fixture
def mp3(tmp_path):
    path = tmp_path / "a.mp3"
    ffmpeg.encode_mp3(np.zeros(int(5.1 * 44100), dtype=np.float32), 44100, 64, path)
    return path


def test_tags_are_id3v23_with_the_podcast_metadata(mp3):
    write_tags(mp3, SCRIPT, TIMELINE, Config(podcast=PodcastConfig(title="L’édition du soir")))
    assert mp3.read_bytes()[:4] == b"ID3\x03"  # version 2.3 on disk
    tags = ID3(mp3, translate=False)  # as written, not upgraded to 2.4
    assert tags.version == (2, 3, 0)
    assert tags["TIT2"].text == [ARTICLE.title]
    assert tags["TPE1"].text == ["Choe Sang-Hun / La Nación"]
    assert tags["TALB"].text == ["L’édition du soir"]
    assert tags["TCON"].text == ["Podcast"]
    assert tags["TLAN"].text == ["fra"]
    assert tags["TYER"].text == ["2024"] and tags["TDAT"].text == ["1806"]  # the v2.3 date frames
    assert "TDRC" not in tags  # a v2.4 frame: not in a v2.3 tag
    assert tags.getall("COMM")[0].text == [ARTICLE.standfirst] and tags.getall("COMM")[0].lang == "fra"
    assert tags["TDES"].text == [ARTICLE.standfirst]
    assert tags["WOAS"].url == ARTICLE.url
    assert tags.getall("WXXX")[0].url == ARTICLE.url
    assert tags["TLEN"].text == ["5100"]
    assert not tags.getall("APIC")  # no cover configured, none embedded
    assert ID3(mp3)["TDRC"].text[0].text == "2024-06-18"  # what readers see after upgrading
    # v2.3 frames only (ID3v2.3 section 4 and the chapter addendum), plus Apple's TDES (docs/build.md says why)
    v23 = {"TIT2", "TPE1", "TALB", "TCON", "TLAN", "TLEN", "TYER", "TDAT", "COMM", "WOAS", "WXXX", "APIC", "CHAP",
           "CTOC", "TDES"}
    assert {frame.FrameID for frame in tags.values()} <= v23


def test_one_chapter_per_section_at_the_timeline_times(mp3):
    write_tags(mp3, SCRIPT, TIMELINE, Config())
    tags = ID3(mp3, translate=False)
    chapters = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    assert [(c.start_time, c.end_time, c.sub_frames["TIT2"].text[0]) for c in chapters] == [
        (round(s.start * 1000), round(s.end * 1000), s.text) for s in TIMELINE.sections]
    assert chapters[1].start_time == 2551  # ms precision kept
    (toc,) = tags.getall("CTOC")
    assert toc.flags & CTOCFlags.TOP_LEVEL and toc.flags & CTOCFlags.ORDERED
    assert list(toc.child_element_ids) == [c.element_id for c in chapters]
    # The audio is untouched by tagging: ffmpeg still decodes every sample.
    assert ffmpeg.measure_file_ebur128(mp3).samples == int(5.1 * 44100)


def test_cover_is_embedded_when_configured(mp3, tmp_path):
    Image.new("RGB", (1400, 1400), (200, 30, 30)).save(tmp_path / "cover.png")
    write_tags(mp3, SCRIPT, TIMELINE, Config(podcast=PodcastConfig(cover="cover.png"), base_dir=str(tmp_path)))
    (apic,) = ID3(mp3).getall("APIC")
    assert apic.mime == "image/png" and apic.type == 3
    assert apic.data == (tmp_path / "cover.png").read_bytes()


@pytest.mark.parametrize("content", [None, b"not an image"])
def test_a_bad_cover_is_an_input_error(mp3, tmp_path, content):
    if content is not None:
        (tmp_path / "cover.jpg").write_bytes(content)
    with pytest.raises(InputError, match="cover"):
        write_tags(mp3, SCRIPT, TIMELINE, Config(podcast=PodcastConfig(cover="cover.jpg"), base_dir=str(tmp_path)))


THREE = Timeline(
    utterances=(Span(0, 0.0, 1.0), Span(1, 1.2, 2.0), Span(2, 2.2, 5.0)),
    blocks=(Span(0, 0.0, 1.0), Span(1, 1.2, 2.0), Span(2, 2.2, 5.0)),
    # titles of increasing length: mutagen alone would store the chapters smallest first, i.e. in this order
    sections=(Span(0, 0.0, 1.2, "Un titre assez long pour le premier chapitre"), Span(1, 1.2, 2.2, "Deux"),
              Span(2, 2.2, 5.1, "La suite, moyenne")),
    duration=5.1,
)
THREE_SCRIPT = Script(ARTICLE, SCRIPT.blocks, (Section(0, "a"), Section(1, "b"), Section(2, "c")), SCRIPT.utterances)


def test_chapters_are_stored_in_time_order_as_ffmpeg_lists_them(mp3):
    write_tags(mp3, THREE_SCRIPT, THREE, Config())
    stored = [frame.element_id for frame in ID3(mp3).getall("CHAP")]  # mutagen returns the stored order
    assert stored == ["chp0", "chp1", "chp2"]
    # ffmpeg's demuxer (ffprobe's too: one libavformat) lists the chapters as stored
    listing = subprocess.run([ffmpeg.ffmpeg_exe(), "-hide_banner", "-i", str(mp3), "-f", "ffmetadata", "-"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    starts = [int(line.split("=")[1]) for line in listing.splitlines() if line.startswith("START=")]
    titles = [line.split("=", 1)[1] for line in listing.splitlines() if line.startswith("title=")][1:]
    # (ffmpeg moves times after 0 by the encoder delay it trims, 1105 samples = 25 ms: its reading, not the tag's)
    assert starts == sorted(starts) and all(abs(a - b) <= 26 for a, b in zip(starts, [0, 1200, 2200]))
    assert titles == [s.text for s in THREE.sections]
    assert ffmpeg.measure_file_ebur128(mp3).samples == int(5.1 * 44100)  # the audio is untouched


def test_eyed3_lists_the_chapters_with_their_titles(mp3):
    import eyed3

    write_tags(mp3, THREE_SCRIPT, THREE, Config())
    audio = eyed3.load(str(mp3))
    assert audio.tag.version == (2, 3, 0)
    chapters = list(audio.tag.chapters)
    assert [(c.times[0], c.title) for c in chapters] == [(round(s.start * 1000), s.text) for s in THREE.sections]
    (toc,) = list(audio.tag.table_of_contents)
    assert [eid.decode() for eid in toc.child_ids] == ["chp0", "chp1", "chp2"]


def _mediainfo(path) -> dict[str, str]:
    if shutil.which("mediainfo") is None:
        pytest.skip("needs Debian mediainfo (make test-deps installs it)")
    out = subprocess.run(["mediainfo", "--Output=JSON", str(path)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    return next(track for track in json.loads(out)["media"]["track"] if track["@type"] == "Audio")


@pytest.mark.parametrize("rate, kbps, lowpass", [(44100, 64, "16.5"), (48000, 96, "20.5"), (32000, 48, "11.3")])
def test_mediainfo_reads_cbr_the_bitrate_and_the_lowpass_from_the_lame_tag(tmp_path, rate, kbps, lowpass):
    path = tmp_path / "a.mp3"
    t = np.arange(3 * rate) / rate
    ffmpeg.encode_mp3((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, kbps, path)
    write_tags(path, SCRIPT, TIMELINE, Config())
    track = _mediainfo(path)
    assert track["BitRate_Mode"] == "CBR"
    assert track["BitRate"] == str(kbps * 1000)
    assert track["Encoded_Library"].startswith("LAME3.100")
    settings = track["Encoded_Library_Settings"]
    assert f"-b {kbps}" in settings and f"-lowpass {lowpass}" in settings and "-q 5" in settings
    assert settings.startswith("-m m")  # mono
    # eyeD3's reading of the same tag: CBR, the bitrate, the source rate
    import eyed3

    lame = eyed3.load(str(path)).info.lame_tag
    assert lame["vbr_method"] == "Constant Bitrate" and lame["bitrate"][0] == kbps
    assert lame["lowpass_filter"] == round(float(lowpass) * 1000)
    assert lame["sample_freq"] == {44100: "44.1 kHz", 48000: "48 kHz", 32000: "<= 32 kHz"}[rate]

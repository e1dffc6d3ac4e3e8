"""ID3v2.3 tags as podcast apps read them: metadata, cover, and one chapter per section at the Timeline's times."""

from __future__ import annotations

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
    assert str(tags["TDRC"].text[0]) == "2024-06-18"
    assert tags.getall("COMM")[0].text == [ARTICLE.standfirst] and tags.getall("COMM")[0].lang == "fra"
    assert tags["TDES"].text == [ARTICLE.standfirst]
    assert tags["WOAS"].url == ARTICLE.url
    assert tags.getall("WXXX")[0].url == ARTICLE.url
    assert tags["TLEN"].text == ["5100"]
    assert not tags.getall("APIC")  # no cover configured, none embedded
    assert ID3(mp3)["TDRC"].text[0].text == "2024-06-18"  # what readers see after upgrading


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

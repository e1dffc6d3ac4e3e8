"""transcript.vtt / transcript.srt / chapters.json from a Timeline: what a reader and a podcast app get."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_edition.audio.transcripts import to_srt, to_vtt, write_transcripts
from audio_edition.models import Article, Block, Script, ScriptBlock, Section, Span, Timeline, Utterance

# --- a small strict WebVTT reader (the parts of the W3C syntax we emit and players rely on) ------------------
_TIME = r"(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})"
_TIMING = re.compile(rf"^{_TIME} --> {_TIME}(?: .*)?$")


@dataclass
class ParsedCue:
    identifier: str | None
    start: float
    end: float
    text: str  # lines joined with "\n", entities decoded


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _decode_cue_text(line: str) -> str:
    # In cue text a raw "&" must start an entity and a raw "<" a tag; we never emit tags.
    assert "<" not in line, f"unescaped < in cue text: {line!r}"
    assert "-->" not in line, f"--> in cue text: {line!r}"
    for entity in re.findall(r"&[^;\s]*;?", line):
        assert entity in ("&amp;", "&lt;", "&gt;", "&nbsp;", "&lrm;", "&rlm;"), f"bad entity {entity!r}"
    return line.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u00a0").replace("&amp;", "&")


def parse_vtt(text: str) -> list[ParsedCue]:
    assert not text.startswith("\ufeff")
    lines = text.replace("\r\n", "\n").split("\n")
    assert re.fullmatch(r"WEBVTT(?:[ \t].*)?", lines[0]), "first line must be WEBVTT"
    blocks = "\n".join(lines[1:]).strip("\n").split("\n\n")
    cues = []
    for block in blocks:
        rows = block.split("\n")
        assert all(rows), f"blank line inside a cue: {block!r}"
        identifier = None
        if not _TIMING.match(rows[0]):
            identifier = rows.pop(0)
            assert "-->" not in identifier
        match = _TIMING.match(rows[0])
        assert match, f"bad timing line {rows[0]!r}"
        g = match.groups()
        start, end = _seconds(*g[:4]), _seconds(*g[4:])
        assert end > start, f"cue ends before it starts: {rows[0]}"
        assert len(rows) > 1, "cue without text"
        cues.append(ParsedCue(identifier, start, end, "\n".join(_decode_cue_text(r) for r in rows[1:])))
    return cues


def check_cues(cues: list[ParsedCue], duration: float) -> None:
    """Ordered, non-overlapping, inside the audio, ≤ 2 lines of ≤ 65 characters."""
    previous_end = 0.0
    for cue in cues:
        assert cue.start >= previous_end - 1e-9, f"cue overlaps the previous one at {cue.start}"
        assert cue.end <= duration + 1e-9
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 65 for line in lines), cue.text
        previous_end = cue.end


# --- fixtures ----------------------------------------------------------------------------------------------
LONG = ("Le voyage de cette semaine met en évidence l’importance stratégique croissante de la Corée du Nord "
        "pour Poutine, notamment parce que sa capacité à fournir les armes conventionnelles dont la Russie "
        "a désespérément besoin pour son aventure militaire en Ukraine ne se dément pas.")


def _script_and_timeline(texts: list[str], spoken: list[str] | None = None) -> tuple[Script, Timeline]:
    article = Article(title=texts[0], blocks=tuple(Block("paragraph", t) for t in texts[1:]),
                      standfirst="Un chapeau.", url="https://example.org/article")
    blocks = tuple(ScriptBlock(i, "title" if i == 0 else "paragraph", t, 0 if i < 2 else 1) for i, t in
                   enumerate(texts))
    sections = (Section(0, texts[0]), Section(1, "Deuxième partie"))
    spoken = spoken or texts
    utterances = tuple(Utterance(i, "paragraph", i, 0, t, s, 300) for i, (t, s) in enumerate(zip(texts, spoken)))
    spans, t = [], 0.0
    for i, text in enumerate(texts):
        length = round(0.5 + len(text) / 15, 3)
        spans.append(Span(i, round(t, 3), round(t + length, 3), text))
        t += length + 0.3
    duration = round(t, 3)
    split = spans[min(2, len(spans) - 1)].start
    sections_spans = (Span(0, 0.0, split, texts[0]), Span(1, split, duration, "Deuxième partie"))
    block_spans = tuple(Span(s.index, s.start, s.end, s.text) for s in spans)
    return Script(article, blocks, sections, utterances), Timeline(tuple(spans), block_spans, sections_spans, duration)


# --- tests -------------------------------------------------------------------------------------------------
def test_vtt_has_a_cue_per_sentence_with_the_written_text_and_timeline_times():
    texts = ["Titre de l’article", "Il est 14h30 à Séoul.", "Le 2e sommet a lieu en 2024."]
    spoken = ["Titre de l’article", "Il est quatorze heures trente à Séoul.", "Le deuxième sommet a lieu en 2024."]
    script, timeline = _script_and_timeline(texts, spoken)
    cues = parse_vtt(to_vtt(timeline))
    assert [c.text for c in cues] == texts  # written form, not the spoken spelling
    assert [(c.start, c.end) for c in cues] == [(s.start, s.end) for s in timeline.utterances]
    assert "quatorze" not in to_vtt(timeline) and "quatorze" not in to_srt(timeline)


def test_long_sentence_is_split_over_cues_of_two_short_lines_with_proportional_times():
    script, timeline = _script_and_timeline(["Titre", "Court.", LONG])
    cues = parse_vtt(to_vtt(timeline))
    span = timeline.utterances[2]
    mine = [c for c in cues if span.start <= c.start < span.end]
    assert len(mine) >= 2
    check_cues(cues, timeline.duration)
    assert mine[0].start == span.start and mine[-1].end == span.end
    assert all(a.end == b.start for a, b in zip(mine, mine[1:]))  # contiguous inside the sentence
    assert " ".join(" ".join(c.text.split("\n")) for c in mine) == LONG  # nothing lost, nothing added
    # Time follows the amount of text: characters per second stay within 20 % across the pieces.
    rates = [len(c.text) / (c.end - c.start) for c in mine]
    assert max(rates) / min(rates) < 1.2


def test_vtt_escapes_what_webvtt_requires_and_srt_stays_plain():
    text = "Tom & Jerry <b>gras</b> --> flèche"
    script, timeline = _script_and_timeline(["Titre", text])
    vtt = to_vtt(timeline)
    assert "Tom &amp; Jerry &lt;b&gt;gras&lt;/b&gt; --&gt; flèche" in vtt
    assert parse_vtt(vtt)[1].text == text
    assert "<b>" not in to_srt(timeline)


def test_french_non_breaking_spaces_are_kept_and_never_broken():
    text = "Pourquoi\u00a0? Parce que «\u00a0la guerre\u00a0» dure. " * 4
    script, timeline = _script_and_timeline(["Titre", text.strip()])
    cues = parse_vtt(to_vtt(timeline))
    joined = " ".join(c.text.replace("\n", " ") for c in cues[1:])
    assert "\u00a0?" in joined and "«\u00a0la guerre\u00a0»" in joined
    assert not any(line.startswith(("?", "»")) for c in cues for line in c.text.split("\n"))


def test_srt_matches_vtt_cues():
    script, timeline = _script_and_timeline(["Titre", "Court.", LONG])
    srt = to_srt(timeline).strip().split("\n\n")
    vtt_cues = parse_vtt(to_vtt(timeline))
    assert len(srt) == len(vtt_cues)
    for number, (block, cue) in enumerate(zip(srt, vtt_cues), start=1):
        rows = block.split("\n")
        assert rows[0] == str(number)
        assert re.fullmatch(r"\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}", rows[1])
        assert "\n".join(rows[2:]) == cue.text


# The Podcasting 2.0 JSON chapters format, version 1.2 (podcast-namespace docs/examples/chapters/jsonChapters.md).
CHAPTERS_SCHEMA = {
    "type": "object",
    "required": ["version", "chapters"],
    "properties": {
        "version": {"type": "string"},
        "author": {"type": "string"},
        "title": {"type": "string"},
        "podcastName": {"type": "string"},
        "description": {"type": "string"},
        "fileName": {"type": "string"},
        "waypoints": {"type": "boolean"},
        "chapters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["startTime"],
                "properties": {
                    "startTime": {"type": "number", "minimum": 0},
                    "endTime": {"type": "number", "minimum": 0},
                    "title": {"type": "string"},
                    "img": {"type": "string"},
                    "url": {"type": "string"},
                    "toc": {"type": "boolean"},
                    "location": {
                        "type": "object",
                        "required": ["name", "geo"],
                        "properties": {"name": {"type": "string"}, "geo": {"type": "string", "pattern": "^geo:"},
                                       "osm": {"type": "string"}},
                    },
                },
            },
        },
    },
}


def check_chapters(data: dict, timeline: Timeline) -> None:
    jsonschema.validate(data, CHAPTERS_SCHEMA)
    assert data["version"] == "1.2.0"
    starts = [c["startTime"] for c in data["chapters"]]
    assert starts == sorted(starts), "chapters must be in ascending startTime order"
    assert [(c["startTime"], c["endTime"], c["title"]) for c in data["chapters"]] == [
        (s.start, s.end, s.text) for s in timeline.sections if s.end > s.start]


def test_chapters_json_follows_the_spec_and_the_timeline(tmp_path):
    script, timeline = _script_and_timeline(["Titre & co", "Court.", LONG])
    files = write_transcripts(tmp_path, timeline, script, podcast_name="Mon émission", author="Jean",
                              audio_file="a-1.mp3")
    assert set(files) == {"vtt", "srt", "chapters"}
    data = json.loads((tmp_path / "chapters.json").read_text(encoding="utf-8"))
    check_chapters(data, timeline)
    assert data["podcastName"] == "Mon émission" and data["fileName"] == "a-1.mp3"
    assert data["chapters"][0]["startTime"] == 0
    with pytest.raises(jsonschema.ValidationError):  # the schema has teeth
        jsonschema.validate({"version": "1.2.0", "chapters": [{"title": "no start"}]}, CHAPTERS_SCHEMA)
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temp files


_WORDS = st.sampled_from(["la", "guerre", "é", "&", "<b>", "-->", "«\u00a0Kim\u00a0»", "Pourquoi\u00a0?", "l’été,",
                          "anticonstitutionnellement",
                          "https://example.org/un/lien/tres/long/qui/ne/se/coupe/pas/bien/du/tout/vraiment"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_WORDS, min_size=1, max_size=60).map(" ".join), min_size=1, max_size=4))
def test_any_text_gives_valid_ordered_cues_that_keep_every_word(texts):
    script, timeline = _script_and_timeline(["Titre", *texts])
    cues = parse_vtt(to_vtt(timeline))
    check_cues(cues, timeline.duration)
    joined = "".join(c.text.replace("\n", "").replace(" ", "") for c in cues)
    assert joined == "".join(t.replace(" ", "") for t in ["Titre", *texts])

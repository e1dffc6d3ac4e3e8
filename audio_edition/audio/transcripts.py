"""Transcripts and chapters from the Timeline: `transcript.vtt`, `transcript.srt`, `chapters.json`.

They carry the written text (what a reader sees), never the spoken spelling, and all their times come from the
Timeline. One cue per utterance (a sentence, or a piece of a run-on sentence); a cue holds at most two lines of
at most 65 characters, so long sentences are spread over several cues whose times split the utterance's time in
proportion to their length.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from audio_edition.fileio import atomic_write_text
from audio_edition.models import Script, Span, Timeline

MAX_LINE_CHARS = 65
MAX_LINES_PER_CUE = 2
CHAPTERS_VERSION = "1.2.0"


@dataclass(frozen=True)
class Cue:
    identifier: str  # "u12" or "u12.2" for the second cue of utterance 12
    start: float
    end: float
    lines: tuple[str, ...]


def _wrap(text: str) -> list[str]:
    # Only ASCII spaces break a line: French non-breaking spaces (before « ? ! : ») stay glued.
    return textwrap.wrap(text, width=MAX_LINE_CHARS, break_long_words=True,
                         break_on_hyphens=False) or [""]


def utterance_cues(span: Span) -> list[Cue]:
    """The cues of one utterance: its written text in blocks of ≤ 2 lines, times split by length."""
    text = re.sub(r"[ \t\r\n\f\v]+", " ", span.text).strip()  # not str.split(): it would eat NBSPs
    if not text:
        return []
    lines = _wrap(text)
    groups = [tuple(lines[i:i + MAX_LINES_PER_CUE]) for i in range(0, len(lines), MAX_LINES_PER_CUE)]
    if len(groups) == 1:
        return [Cue(f"u{span.index}", span.start, span.end, groups[0])]
    weights = [sum(len(line) for line in group) + 1 for group in groups]
    total = float(sum(weights))
    cues = []
    start = span.start
    done = 0
    for n, (group, weight) in enumerate(zip(groups, weights)):
        done += weight
        end = span.end if n == len(groups) - 1 else round(span.start + (span.end - span.start) * done / total, 3)
        cues.append(Cue(f"u{span.index}" if n == 0 else f"u{span.index}.{n + 1}", start, end, group))
        start = end
    return cues


def timeline_cues(timeline: Timeline) -> list[Cue]:
    return [cue for span in timeline.utterances for cue in utterance_cues(span) if cue.end > cue.start]


def _timestamp(seconds: float, decimal: str) -> str:
    ms = int(round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


def _vtt_escape(text: str) -> str:
    # WebVTT cue text: & and < start entities/tags, and escaping > also defuses "-->".
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(timeline: Timeline) -> str:
    parts = ["WEBVTT", ""]
    for cue in timeline_cues(timeline):
        parts += [cue.identifier,
                  f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}",
                  *(_vtt_escape(line) for line in cue.lines), ""]
    return "\n".join(parts)


def to_srt(timeline: Timeline) -> str:
    parts = []
    for number, cue in enumerate(timeline_cues(timeline), start=1):
        # SRT has no escaping; many players read <i>/<b> in it, so angle brackets become look-alike quotes.
        lines = [line.replace("<", "‹").replace(">", "›") for line in cue.lines]
        parts += [str(number), f"{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}", *lines, ""]
    return "\n".join(parts)


def to_chapters(timeline: Timeline, script: Script, *, podcast_name: str | None = None,
                author: str | None = None, file_name: str | None = None) -> dict:
    """Podcasting 2.0 JSON chapters (version 1.2.0): one chapter per section of the Timeline."""
    article = script.article
    data: dict = {"version": CHAPTERS_VERSION, "title": article.title}
    if podcast_name:
        data["podcastName"] = podcast_name
    if author:
        data["author"] = author
    if article.standfirst:
        data["description"] = article.standfirst
    if file_name:
        data["fileName"] = file_name
    data["chapters"] = [
        {"startTime": span.start, "endTime": span.end, "title": span.text}
        for span in timeline.sections if span.end > span.start
    ]
    return data


def write_transcripts(directory: Path, timeline: Timeline, script: Script, *, podcast_name: str | None = None,
                      author: str | None = None, audio_file: str | None = None) -> dict[str, str]:
    """Write transcript.vtt, transcript.srt and chapters.json; returns {"vtt"|"srt"|"chapters": file name}."""
    files = {"vtt": "transcript.vtt", "srt": "transcript.srt", "chapters": "chapters.json"}
    atomic_write_text(directory / files["vtt"], to_vtt(timeline))
    atomic_write_text(directory / files["srt"], to_srt(timeline))
    chapters = to_chapters(timeline, script, podcast_name=podcast_name, author=author, file_name=audio_file)
    atomic_write_text(directory / files["chapters"], json.dumps(chapters, ensure_ascii=False, indent=2) + "\n")
    return files

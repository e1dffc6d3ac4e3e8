"""The typed values that pass between pipeline stages.

source -> extract -> Article -> script -> Script -> speak -> Clip -> assemble -> Episode (+ Timeline) -> publish
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

BlockKind = Literal["heading", "paragraph", "quote", "list_item"]


@dataclass(frozen=True)
class SourceDocument:
    """Raw input, decoded to text. `kind` says how to read it."""

    text: str
    kind: Literal["html", "text"]
    location: str  # path, URL or "-" (stdin): for messages and for relative URLs
    url: str | None = None  # final URL after redirects, when fetched over http(s)
    encoding: str | None = None  # the charset we decoded with


@dataclass(frozen=True)
class Block:
    """One unit a reader reads: an intertitle, a paragraph, an in-body quote or a list item."""

    kind: BlockKind
    text: str


@dataclass(frozen=True)
class Article:
    """A cleaned article: only what a listener should hear, in reading order."""

    title: str
    blocks: tuple[Block, ...]
    standfirst: str | None = None
    byline: str | None = None  # "Par Choe Sang-Hun"
    translator: str | None = None  # "Traduction de Jaime Arrambide"
    published: str | None = None  # ISO 8601 date or datetime, as found
    url: str | None = None  # canonical URL
    lang: str = "fr"
    image: str | None = None  # lead image URL (og:image), for the feed item
    site_name: str | None = None
    # What the content guards read (extract/guards.py), found while extracting:
    declared_langs: tuple[str, ...] = ()  # what the page says: <html lang>, JSON-LD inLanguage, og:locale
    paywall_notice: str | None = None  # "Il vous reste 78 % de cet article à lire", as the page words it
    accessible_for_free: bool | None = None  # JSON-LD isAccessibleForFree, when the page says
    excerpt: bool = False  # built although truncated by a paywall (--allow-partial): said so to the listener

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "standfirst": self.standfirst,
            "byline": self.byline,
            "translator": self.translator,
            "published": self.published,
            "url": self.url,
            "lang": self.lang,
            "image": self.image,
            "site_name": self.site_name,
            "declared_langs": list(self.declared_langs),
            "paywall_notice": self.paywall_notice,
            "accessible_for_free": self.accessible_for_free,
            "excerpt": self.excerpt,
            "blocks": [{"kind": b.kind, "text": b.text} for b in self.blocks],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Article:
        return cls(
            title=data["title"],
            blocks=tuple(Block(kind=b["kind"], text=b["text"]) for b in data.get("blocks", [])),
            standfirst=data.get("standfirst"),
            byline=data.get("byline"),
            translator=data.get("translator"),
            published=data.get("published"),
            url=data.get("url"),
            lang=data.get("lang", "fr"),
            image=data.get("image"),
            site_name=data.get("site_name"),
            declared_langs=tuple(data.get("declared_langs", ())),
            paywall_notice=data.get("paywall_notice"),
            accessible_for_free=data.get("accessible_for_free"),
            excerpt=bool(data.get("excerpt", False)),
        )


UtteranceKind = Literal["intro", "title", "standfirst", "heading", "paragraph", "quote", "list_item", "outro"]


@dataclass(frozen=True)
class ScriptBlock:
    """A block of the reading script: the article's blocks plus intro, title, standfirst and outro.

    `section` indexes Script.sections; `article_block` is the index in Article.blocks (None for the
    intro, title, standfirst and outro).
    """

    index: int
    kind: UtteranceKind
    text: str
    section: int
    article_block: int | None = None


@dataclass(frozen=True)
class Section:
    """A chapter: the opening (intro + title + standfirst) and then one per intertitle."""

    index: int
    title: str


@dataclass(frozen=True)
class Utterance:
    """One thing the voice says in one go, and the silence that follows it."""

    index: int
    kind: UtteranceKind
    block: int  # ScriptBlock.index
    sentence: int  # index of the sentence within its block
    text: str  # written form (what a reader sees; goes into transcripts)
    spoken: str  # spoken form (what the engine gets; may hold [[phonemes]])
    pause_after_ms: int


@dataclass(frozen=True)
class Script:
    article: Article
    blocks: tuple[ScriptBlock, ...]
    sections: tuple[Section, ...]
    utterances: tuple[Utterance, ...]


PCM16_FULL_SCALE = 32767.0


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> 16-bit PCM (int16), rounded and clipped; 16-bit PCM is returned as it is."""
    if samples.dtype == np.int16:
        return samples
    scaled = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * np.float32(PCM16_FULL_SCALE)
    return np.rint(scaled).astype(np.int16)


def to_float32(samples: np.ndarray) -> np.ndarray:
    """16-bit PCM -> float32 in [-1, 1]; float samples are returned as float32."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / np.float32(PCM16_FULL_SCALE)
    return np.asarray(samples, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Clip:
    """Synthesised audio of one utterance, mono: 16-bit PCM (int16) as the synthesis pool and the clip cache give
    it — half the memory of float32 for a long article, and a clip from the cache is then the very clip that was
    synthesised — or float32 in [-1, 1] (both are accepted by the assemble stage)."""

    utterance: int  # Utterance.index
    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


# An article's clips: a list, or a Mapping by utterance index that reads them from disk one at a time (ClipSpool)
Clips = Sequence[Clip] | Mapping[int, Clip]


@dataclass(frozen=True)
class Span:
    """A timed piece of the episode, in seconds from the start of the MP3 (ms precision)."""

    index: int
    start: float
    end: float
    text: str = ""


@dataclass(frozen=True)
class Timeline:
    """Where every utterance, block and section sits in the finished audio. The one source of timing."""

    utterances: tuple[Span, ...]  # Span.index == Utterance.index, text = written text
    blocks: tuple[Span, ...]  # Span.index == ScriptBlock.index
    sections: tuple[Span, ...]  # Span.index == Section.index, text = section title
    duration: float

    def to_dict(self) -> dict:
        def spans(items: tuple[Span, ...]) -> list[dict]:
            return [{"index": s.index, "start": s.start, "end": s.end, "text": s.text} for s in items]

        return {
            "duration": self.duration,
            "utterances": spans(self.utterances),
            "blocks": spans(self.blocks),
            "sections": spans(self.sections),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Timeline:
        def spans(items: list[dict]) -> tuple[Span, ...]:
            return tuple(Span(i["index"], i["start"], i["end"], i.get("text", "")) for i in items)

        return cls(
            utterances=spans(data["utterances"]),
            blocks=spans(data["blocks"]),
            sections=spans(data["sections"]),
            duration=data["duration"],
        )


@dataclass(frozen=True)
class Episode:
    """A finished audio edition on disk, ready to publish."""

    slug: str
    directory: str  # output/episodes/<slug>
    audio_file: str  # file name of the MP3 inside `directory`
    audio_bytes: int
    duration: float
    script_hash: str  # hash of the spoken script + voice: same hash = same audio
    voice: str
    engine: str
    script: Script
    timeline: Timeline
    files: dict[str, str] = field(default_factory=dict)  # "vtt"/"srt"/"chapters"/"episode" -> file name


def script_to_dict(script: Script) -> dict:
    """The stable JSON form of a Script (used by `script --json` and episode.json)."""
    return {
        "article": script.article.to_dict(),
        "sections": [{"index": s.index, "title": s.title} for s in script.sections],
        "blocks": [
            {"index": b.index, "kind": b.kind, "text": b.text, "section": b.section, "article_block": b.article_block}
            for b in script.blocks
        ],
        "utterances": [
            {
                "index": u.index,
                "kind": u.kind,
                "block": u.block,
                "sentence": u.sentence,
                "text": u.text,
                "spoken": u.spoken,
                "pause_after_ms": u.pause_after_ms,
            }
            for u in script.utterances
        ],
    }


def script_from_dict(data: dict) -> Script:
    return Script(
        article=Article.from_dict(data["article"]),
        sections=tuple(Section(s["index"], s["title"]) for s in data["sections"]),
        blocks=tuple(
            ScriptBlock(b["index"], b["kind"], b["text"], b["section"], b.get("article_block")) for b in data["blocks"]
        ),
        utterances=tuple(
            Utterance(u["index"], u["kind"], u["block"], u["sentence"], u["text"], u["spoken"], u["pause_after_ms"])
            for u in data["utterances"]
        ),
    )


def episode_to_dict(episode: Episode) -> dict:
    """The stable JSON form of an Episode: what `episode.json` holds next to the MP3."""
    return {
        "slug": episode.slug,
        "title": episode.script.article.title,
        "audio_file": episode.audio_file,
        "audio_bytes": episode.audio_bytes,
        "duration": episode.duration,
        "script_hash": episode.script_hash,
        "voice": episode.voice,
        "engine": episode.engine,
        "files": dict(episode.files),
        "script": script_to_dict(episode.script),
        "timeline": episode.timeline.to_dict(),
    }


def episode_from_dict(data: dict, directory: str) -> Episode:
    return Episode(
        slug=data["slug"],
        directory=directory,
        audio_file=data["audio_file"],
        audio_bytes=data["audio_bytes"],
        duration=data["duration"],
        script_hash=data["script_hash"],
        voice=data["voice"],
        engine=data["engine"],
        script=script_from_dict(data["script"]),
        timeline=Timeline.from_dict(data["timeline"]),
        files=dict(data.get("files", {})),
    )

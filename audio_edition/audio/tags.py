"""ID3v2.3 tags for the episode MP3 (mutagen): what a podcast app or a music player shows, and the chapters.

v2.3 rather than v2.4 because it is what podcast apps and Apple's tools read everywhere. The tag holds v2.3
frames only: the date is TYER + TDAT (no TDRC, a v2.4 frame). Chapters: one CHAP per Timeline section (times in
ms, equal to the Timeline's), each with a TIT2 sub-frame, listed in order by one top-level CTOC, and stored in
time order too (mutagen writes frames smallest first; tools such as ffprobe list CHAP frames as stored).
"""

from __future__ import annotations

import logging
import re
from io import BytesIO
from pathlib import Path

from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TCON,
    TDES,
    TDRC,
    TIT2,
    TLAN,
    TLEN,
    TPE1,
    WOAS,
    WXXX,
    CTOCFlags,
    Encoding,
    PictureType,
)
from PIL import Image, UnidentifiedImageError

from audio_edition.config import Config
from audio_edition.errors import InputError
from audio_edition.models import Script, Timeline
from audio_edition.publish.links import safe_link

log = logging.getLogger(__name__)

_UTF16 = Encoding.UTF16  # v2.3 has no UTF-8: UTF-16 with BOM is the portable choice for accents
_NO_OFFSET = 0xFFFFFFFF  # CHAP byte offsets "not used": players seek by time
_ISO639_2 = {"fr": "fra", "en": "eng", "de": "deu", "es": "spa", "it": "ita", "nl": "nld", "pt": "por"}


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def artist_name(script: Script, config: Config) -> str:
    """Who the episode is by: the article's author(s) and publication, else the show's author."""
    article = script.article
    byline = re.sub(r"^\s*(par|by)\s+", "", article.byline or "", flags=re.I).strip()
    names = [n for n in (byline, article.site_name) if n]
    return " / ".join(names) if names else config.podcast.author


def _date(published: str | None) -> str | None:
    match = re.match(r"(\d{4})(-\d{2})?(-\d{2})?", (published or "").strip())
    return match.group(0) if match else None


def _cover(config: Config) -> APIC | None:
    path = config.resolve(config.podcast.cover)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        raise InputError(f"cover image not found: {path}", "fix [podcast] cover in the config") from None

    try:
        with Image.open(BytesIO(data)) as image:
            kind = image.format
    except (UnidentifiedImageError, OSError):
        raise InputError(f"cover image is not a picture: {path}") from None
    if kind not in ("JPEG", "PNG"):
        raise InputError(f"cover image must be JPEG or PNG, not {kind}: {path}")
    return APIC(encoding=_UTF16, mime=f"image/{kind.lower()}", type=PictureType.COVER_FRONT, desc="Cover",
                data=data)


def build_tags(script: Script, timeline: Timeline, config: Config) -> ID3:
    article = script.article
    tags = ID3()
    tags.add(TIT2(encoding=_UTF16, text=article.title))
    tags.add(TPE1(encoding=_UTF16, text=artist_name(script, config)))
    tags.add(TALB(encoding=_UTF16, text=config.podcast.title))
    tags.add(TCON(encoding=_UTF16, text="Podcast"))
    tags.add(TLAN(encoding=_UTF16, text=_ISO639_2.get((article.lang or "fr")[:2].lower(), "fra")))
    tags.add(TLEN(encoding=_UTF16, text=str(_ms(timeline.duration))))
    date = _date(article.published)
    if date:
        tags.add(TDRC(encoding=_UTF16, text=date))  # update_to_v23() turns it into TYER + TDAT
    description = article.standfirst or config.podcast.description
    if description:
        tags.add(COMM(encoding=_UTF16, lang="fra", desc="", text=description))
        tags.add(TDES(encoding=_UTF16, text=description))
    link = safe_link(article.url)
    if link:
        tags.add(WOAS(url=link))
        tags.add(WXXX(encoding=_UTF16, desc="Article", url=link))
    cover = _cover(config)
    if cover is not None:
        tags.add(cover)

    chapter_ids = []
    for n, span in enumerate(s for s in timeline.sections if s.end > s.start):
        element_id = f"chp{n}"
        chapter_ids.append(element_id)
        tags.add(CHAP(element_id=element_id, start_time=_ms(span.start), end_time=_ms(span.end),
                      start_offset=_NO_OFFSET, end_offset=_NO_OFFSET,
                      sub_frames=[TIT2(encoding=_UTF16, text=span.text or f"Partie {n + 1}")]))
    if chapter_ids:
        tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                      child_element_ids=chapter_ids, sub_frames=[TIT2(encoding=_UTF16, text="Chapitres")]))
    return tags


def write_tags(mp3: Path, script: Script, timeline: Timeline, config: Config) -> None:
    """Write the ID3v2.3 tag at the start of `mp3` (a file nobody else sees yet: the caller renames it after)."""
    tags = build_tags(script, timeline, config)
    tags.update_to_v23()  # TDRC -> TYER + TDAT, the v2.3 date frames
    tags.save(str(mp3), v2_version=3, v1=0)
    chapters_in_time_order(mp3)


def chapters_in_time_order(mp3: Path) -> None:
    """Store the tag's CHAP frames by start time (mutagen sorts frames by size): the n-th CHAP frame in the tag
    becomes the n-th chapter in time; every other frame keeps its place in the order, the tag its size."""
    with open(mp3, "r+b") as fh:
        header = fh.read(10)
        if header[:3] != b"ID3" or header[3] != 3 or header[5] & 0x80:  # ours: v2.3, no unsynchronisation
            return
        size = sum((b & 0x7F) << (7 * (3 - n)) for n, b in enumerate(header[6:10]))
        body = bytearray(fh.read(size))
        frames = []  # (offset, bytes) of each frame, in stored order
        at = 0
        while at + 10 <= len(body) and body[at:at + 4].strip(b"\0"):
            length = 10 + int.from_bytes(body[at + 4:at + 8], "big")
            frames.append((at, bytes(body[at:at + length])))
            at += length
        chapters = [(offset, data) for offset, data in frames if data[:4] == b"CHAP"]

        def start_ms(data: bytes) -> int:
            id_end = data.index(b"\0", 10)  # the element ID, then start and end times (ms)
            return int.from_bytes(data[id_end + 1:id_end + 5], "big")

        ordered = iter(sorted((data for _, data in chapters), key=start_ms))
        # each CHAP slot takes the next chapter in time: other frames keep their order, the tag its size
        rebuilt = b"".join(next(ordered) if data[:4] == b"CHAP" else data for _, data in frames)
        body[:len(rebuilt)] = rebuilt
        fh.seek(10)
        fh.write(body)

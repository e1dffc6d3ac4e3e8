"""Plain-text scrapes: paragraphs, title, intertitles, through the same line rules as HTML."""

from __future__ import annotations

import logging
import re

from audio_edition.config import LimitsConfig
from audio_edition.errors import InputError, too_many_blocks
from audio_edition.extract.lines import clean_text, finish_blocks, fold, judge_line, words
from audio_edition.models import Article, BlockKind, SourceDocument

log = logging.getLogger(__name__)

def _text_paragraphs(text: str) -> list[str]:
    """Paragraphs of a scrape: one per line, except hard-wrapped blocks (lines of 40-100 characters) and
    lines that continue a sentence (no end punctuation, next starts lower-case), which are joined."""
    out: list[str] = []
    for group in re.split(r"\n[ \t\u00a0]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [clean_text(line) for line in group.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue
        wrapped = (len(lines) >= 2 and all(40 <= len(line) <= 100 for line in lines[:-1])
                   and all(words(line) >= 2 and judge_line(line).keep for line in lines)
                   and len({fold(line) for line in lines}) == len(lines))
        if wrapped:
            out.append(" ".join(lines))
            continue
        for i, line in enumerate(lines):
            if i and not re.search(r"[.!?:;»”\"…)]$", out[-1]) and line[:1].islower():
                out[-1] = f"{out[-1]} {line}"
            else:
                out.append(line)
    return out


def _is_site_name(line: str) -> bool:
    return words(line) <= 3 and line.upper() == line and not re.search(r"[.!?]$", line)


def _text_title(top: list[str]) -> str:
    """A scrape's title: the line repeated near the top (scrapes repeat it), else the first real line."""
    keys = [fold(line) for line in top]
    for line, key in zip(top, keys):
        if keys.count(key) > 1 and words(line) >= 3:
            return line.rstrip(".")
    for line in top:
        if not _is_site_name(line):
            return line.rstrip(".")
    return top[0].rstrip(".") if top else ""


def extract_text(doc: SourceDocument, max_blocks: int = LimitsConfig.max_blocks) -> Article:
    lines = _text_paragraphs(doc.text)
    if len(lines) > max_blocks:
        raise too_many_blocks(len(lines), max_blocks)
    title = ""
    candidates: list[tuple[BlockKind, str]] = []
    byline = translator = None
    title = _text_title([line for line in lines[:12] if judge_line(line).keep])
    for line in lines:
        verdict = judge_line(line)
        if not verdict.keep:
            byline = byline or verdict.byline
            translator = translator or verdict.translator
            log.debug("dropped %r (%s)", line[:60], verdict.why)
            continue
        if fold(line.rstrip(".")) == fold(title) or (not candidates and _is_site_name(line)):
            continue
        # A short line without end punctuation between paragraphs is an intertitle.
        kind: BlockKind = "heading" if len(line) < 100 and not re.search(r"[.!?:;»”\"…,]$", line) else "paragraph"
        candidates.append((kind, line))
    if not title:
        raise InputError(f"no article text found in {doc.location}")
    blocks = finish_blocks(candidates, title, None)
    if not any(b.kind == "paragraph" for b in blocks):
        raise InputError(f"no article text found in {doc.location}")
    return Article(title=title, blocks=tuple(blocks), byline=byline, translator=translator, lang="fr",
                   url=doc.url)

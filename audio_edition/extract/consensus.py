"""A second opinion on the body: trafilatura, a field-made extractor, voted with our own blocks.

Our rules know French news furniture (captions, credits, listen widgets, teasers) better than any general
extractor; trafilatura knows the shape of an article body on sites we have never seen. Each reads the page; a
block is *agreed* when most of its word trigrams are in the other reading. The result keeps, in our order:
  - every block of ours from the first agreed one to the last (inside the body our rules are the better judge:
    trafilatura keeps embedded tweets, chart captions and "À lire aussi" lines there, and drops quotes), and
    our intertitles before the last agreed block;
  - trafilatura's blocks inside its own agreed span that we lack, by runs of at least a paragraph's words (our
    body search left part of the article out), placed after the agreed block they follow, and only when our
    line rules accept them.
Blocks outside the agreed span on either side -- related articles, "most read" lists, comment threads -- are what
the two readings disagree on, and are dropped; except, when the body is the publisher's marked element (articleBody,
`entry-content`, its parts around ads), the sentences right before and after the span: trafilatura sometimes stops
at an ad row or starts at the second paragraph, and a marked body does not hold related lists as sentences.
When the readings share nothing, trafilatura's is taken (filtered by our line rules): on pages unlike any we know,
it is the better guess (measured in docs/extraction.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from audio_edition.extract.lines import clean_text, judge_line
from audio_edition.models import BlockKind, SourceDocument

log = logging.getLogger(__name__)

Candidate = tuple[BlockKind, str]

_WORD = re.compile(r"\w+")
# trafilatura reads the markup only: text held in scripts (JSON-LD, app state) is embedded.py's, which takes it
# only when it holds what the markup shows. (Left in, trafilatura reads a lone JSON-LD articleBody as the body.)
_SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.IGNORECASE | re.DOTALL)
AGREED = 0.5  # share of a block's word trigrams found in the other reading
MISSED_RUN_WORDS = 40  # trafilatura's blocks we lack are added by runs of at least a paragraph's words
PROSE_WORDS = 6  # a sentence, not a label: what the agreed span may grow by in a publisher-marked body
_TRAFILATURA_KINDS: dict[str, BlockKind] = {"head": "heading", "quote": "quote", "item": "list_item"}


@dataclass(frozen=True)
class _Reading:
    """One extractor's blocks with their word trigrams, ready to be compared."""

    blocks: list[Candidate]
    trigrams: list[frozenset[tuple[str, ...]]]

    @classmethod
    def of(cls, blocks: list[Candidate]) -> _Reading:
        return cls(blocks, [_trigrams(text) for _, text in blocks])

    def pool(self) -> frozenset[tuple[str, ...]]:
        return frozenset().union(*self.trigrams)


def _trigrams(text: str) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    return frozenset(tuple(words[i:i + 3]) for i in range(max(1, len(words) - 2))) if words else frozenset()


def _support(trigrams: frozenset[tuple[str, ...]], pool: frozenset[tuple[str, ...]]) -> float:
    return len(trigrams & pool) / len(trigrams) if trigrams else 0.0


def _span(agreed: list[bool]) -> tuple[int, int]:
    """First and last agreed index (-1, -1 when none)."""
    if True not in agreed:
        return -1, -1
    return agreed.index(True), len(agreed) - 1 - agreed[::-1].index(True)


def second_opinion(candidates: list[Candidate], doc: SourceDocument, known: Sequence[str] = (),
                   keep: Collection[str] = (), marked: bool = False) -> list[Candidate]:
    """Our blocks, corrected by trafilatura's reading of the same page (see the module docstring).

    `known`: text we already read elsewhere (title, standfirst); `keep`: blocks the publisher forces in.
    """
    theirs = trafilatura_blocks(_SCRIPT.sub(" ", doc.text), doc.url)
    return vote(candidates, theirs, known, keep, marked)


def vote(ours: list[Candidate], theirs: list[Candidate], known: Sequence[str] = (),
         keep: Collection[str] = (), marked: bool = False) -> list[Candidate]:
    theirs = [(kind, text) for kind, text in theirs if judge_line(text).keep]
    if not theirs:
        return ours
    if not [block for block in ours if block[1] not in keep]:
        return [*ours, *theirs]
    mine, other = _Reading.of(ours), _Reading.of(theirs)
    mine_agreed = _support_list(mine, other.pool())
    if not any(mine_agreed):
        log.debug("the two readings share no block: trafilatura's is taken")
        return [*(block for block in ours if block[1] in keep), *theirs]
    kept = _Reading.of(_our_blocks(mine, mine_agreed, keep, marked))
    read = kept.pool() | frozenset().union(*(_trigrams(text) for text in known))
    return _with_their_blocks(kept, other, _support_list(other, read))


def holds(reading: list[Candidate], shown: list[Candidate]) -> bool:
    """`reading` holds most of the words of `shown` (an empty `shown` is held by anything)."""
    pool = _Reading.of(reading).pool()
    total = sum(len(text.split()) for _, text in shown)
    held = sum(len(text.split()) for _, text in shown if _support(_trigrams(text), pool) >= AGREED)
    return held >= AGREED * total


def _support_list(reading: _Reading, pool: frozenset[tuple[str, ...]]) -> list[bool]:
    return [_support(t, pool) >= AGREED for t in reading.trigrams]


def _is_prose(block: Candidate) -> bool:
    """A sentence of the article: a paragraph or quote of a few words ending like a sentence."""
    kind, text = block
    return kind in ("paragraph", "quote") and len(text.split()) >= PROSE_WORDS \
        and text.rstrip(" ”»\"')").endswith((".", "!", "?", "…", ":"))


def _our_blocks(mine: _Reading, agreed: list[bool], keep: Collection[str], marked: bool = False) -> list[Candidate]:
    first, last = _span(agreed)
    if marked:  # inside the publisher's own body element, sentences past trafilatura's edges are the article's
        while first > 0 and _is_prose(mine.blocks[first - 1]):
            first -= 1
        while last < len(agreed) - 1 and _is_prose(mine.blocks[last + 1]):
            last += 1
    kept: list[Candidate] = []
    for i, (kind, text) in enumerate(mine.blocks):
        if first <= i <= last or (kind == "heading" and i < last) or text in keep:
            kept.append((kind, text))
        else:
            log.debug("dropped %r (outside what trafilatura read)", text[:60])
    return kept


def _with_their_blocks(kept: _Reading, other: _Reading, agreed: list[bool]) -> list[Candidate]:
    """Insert runs of trafilatura's blocks that we lack, inside its agreed span, after the block they follow."""
    first, last = _span(agreed)
    runs: list[tuple[int, list[Candidate]]] = []
    position, previous_agreed = -1, True
    for j, block in enumerate(other.blocks):
        if agreed[j]:
            position = _anchor(other.trigrams[j], kept.trigrams, position)
        elif first < j < last:
            if previous_agreed:
                runs.append((position, []))
            runs[-1][1].append(block)
        previous_agreed = agreed[j]
    result = list(kept.blocks)
    for position, run in reversed(runs):
        if sum(len(text.split()) for _, text in run) >= MISSED_RUN_WORDS:
            result[position + 1:position + 1] = run
        else:  # a line or two: a tweet, a chart caption, a teaser card -- a furniture call our rules made
            log.debug("not added from trafilatura: %r", run[0][1][:60])
    return result


def _anchor(trigrams: frozenset[tuple[str, ...]], kept: list[frozenset[tuple[str, ...]]], current: int) -> int:
    """Index of the kept block that best holds `trigrams` (at or after `current`, else the best anywhere)."""
    start = max(current, 0)
    later = [(score, i) for i, k in enumerate(kept[start:], start) if (score := _support(trigrams, k)) >= AGREED]
    if later:
        return max(later)[1]
    best = max(((_support(trigrams, k), i) for i, k in enumerate(kept[:start])), default=(0.0, current))
    return best[1] if best[0] >= AGREED else current


# --- trafilatura's reading ------------------------------------------------------------------------------------
def trafilatura_blocks(page: object, url: str | None) -> list[Candidate]:
    """trafilatura's body of the page as blocks: paragraphs, intertitles, quotes, list items, table rows."""
    import trafilatura  # lazy: trafilatura is slow to load: only when a page is extracted

    try:
        document = trafilatura.bare_extraction(page, url=url, fast=True, include_comments=False,
                                               include_tables=True, include_images=False)
    except Exception as exc:  # a second opinion that fails is no opinion, never a failed build
        log.debug("trafilatura failed: %s", exc)
        return []
    body = getattr(document, "body", None)
    return [] if body is None else list(_blocks_of(body))


def _blocks_of(body):
    for element in body:
        if element.tag == "list":
            yield from (("list_item", text) for item in element.iter("item") if (text := _text(item)))
        elif element.tag == "table":  # one row, one line: "DL, Myles Garrett, 57, 77 %"
            for row in element.iter("row"):
                cells = [text for cell in row.iter("cell") if (text := _text(cell))]
                if cells:
                    yield "paragraph", ", ".join(cells)
        elif text := _text(element):
            yield _TRAFILATURA_KINDS.get(element.tag, "paragraph"), text


def _text(element) -> str:
    return clean_text(" ".join(element.itertext()))

"""The article inside the page: title <h1>, byline, standfirst, the body element, and the walk into blocks."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from itertools import islice

from lxml import etree

from audio_edition.extract import rules
from audio_edition.extract.lines import clean_text, fold, judge_line, tidy_byline, words
from audio_edition.extract.metadata import PageMeta, strip_site_name
from audio_edition.extract.tree import (
    BR,
    LINK_CLOSE,
    LINK_OPEN,
    OFFSITE_CLOSE,
    OFFSITE_OPEN,
    Element,
    Page,
    attr_words,
    classes,
    is_forced,
    is_hidden,
    names_of,
    paragraph_weights,
    strings_with_parent,
    stripped_length,
    text_of,
    tokens,
)
from audio_edition.models import BlockKind

log = logging.getLogger(__name__)

_BYLINE_TOKENS = ("byline", "author", "auteur", "signature")


def pick_title_h1(page: Page, meta: PageMeta) -> Element | None:
    """The article's <h1>: not the site logo, preferably the one matching the page's declared headline."""
    best, best_score = None, -1.0
    headlines = [fold(strip_site_name(h, meta.site_name)) for h in meta.headlines()]
    for h1 in page.tags("h1"):
        text = fold(text_of(h1, " ").replace(BR, " "))
        if len(text) < 3:
            continue
        score = 0.0
        if any(text == h or (len(text) > 15 and (text in h or h in text)) for h in headlines):
            score += 4
        if next(h1.iterancestors("article", "main"), None) is not None \
                or any(a.get("role") == "main" for a in h1.iterancestors()):
            score += 2
        if "headline" in h1.get("itemprop", ""):
            score += 4
        names = " ".join(classes(h1) + list(islice((n for p in h1.iterancestors() for n in classes(p)), 6)))
        if re.search(r"site|logo|brand|masthead", names):
            score -= 5
        if (site := meta.site_name) and text == fold(site):
            score -= 5
        if is_hidden(h1):
            score -= 3
        score += min(len(text), 120) / 120  # a headline is a sentence, a logo a word or two
        if score > best_score:
            best, best_score = h1, score
    return best if best is not None and best_score >= 0.2 else None


_WITH_REL = etree.XPath("descendant-or-self::*[@rel]")
_WITH_ITEMPROP = etree.XPath("descendant-or-self::*[@itemprop]")


@lru_cache(maxsize=16384)
def _byline_names(names: tuple[str, ...]) -> bool:
    return any(tok in _BYLINE_TOKENS for n in names for tok in tokens(n))


def _byline_elements(page: Page) -> list[Element]:
    """Elements marked as the byline: rel=author, itemprop=author, then a byline/author class or id."""
    marked = [t for t in _WITH_REL(page.root) if "author" in attr_words(t, "rel")]
    marked += [t for t in _WITH_ITEMPROP(page.root) if t.get("itemprop") == "author"]
    marked += page.named(_byline_names)
    ids = set(marked)
    # The innermost element is the name; wrappers ("date-author") add dates and labels.
    return [t for t in marked if not any(d in ids for d in t.iterdescendants())]


def dom_byline(page: Page) -> str | None:
    candidates = _byline_elements(page)
    if not candidates:
        # No byline markup: a short "Par Marc Olivier | le 02/10/2024" line anywhere before cleaning.
        starts = re.compile(r"^\s*(Par|By|PAR)\b")
        for tag in (parent for text, parent in strings_with_parent(page.root) if starts.search(text)):
            text = clean_text(text_of(tag, " ").replace(BR, " "))
            if words(text) <= 20:
                head = tidy_byline(text)
                if rules.BYLINE.match(head):
                    return head
    for tag in candidates:
        text = clean_text(text_of(tag, " ").replace(BR, " "))
        text = tidy_byline(text)
        if 3 <= len(text) <= 120 and not text.lower().startswith(("http", "©")):
            if re.match(r"(?i)^(par|by)\b", text) or rules.BYLINE.match(text):
                return text
            return f"Par {text}"
    return None


@lru_cache(maxsize=16384)
def _standfirst_names(names: tuple[str, ...]) -> bool:
    return any(rules.STANDFIRST_PATTERN.search(n) for n in names)


def _is_standfirst(tag: Element) -> bool:
    if tag.tag in ("html", "body", "article", "main", "section", "img", "a"):
        return False
    itemprop = tag.get("itemprop", "")
    if "description" in itemprop or "alternativeHeadline" in itemprop:
        return True
    return _standfirst_names(names_of(tag))


def take_standfirst(page: Page, title_h1: Element | None) -> str | None:
    """The chapô: a class or itemprop says so; it is taken out of the body so that it is read once."""
    maybe = page.in_order(_WITH_ITEMPROP(page.root) + page.named(_standfirst_names))
    found = [t for t in maybe if _is_standfirst(t)]
    if title_h1 is not None and not page.is_dropped(title_h1):
        # A long sentence in the heading right after the title is a standfirst, whatever its class.
        following = next(title_h1.itersiblings(etree.Element), None)
        if following is not None and following.tag in ("h2", "h3", "p") and following not in found:
            text = clean_text(text_of(following, " ").replace(BR, " "))
            if following.tag != "p" and len(text) >= 70 and re.search(r"[.!?…»]$", text):
                found.insert(0, following)
    order = page.order
    first_long = next((order[p] for p in page.tags("p") if stripped_length(p) > 150), None)
    for tag in found:
        if page.is_dropped(tag):
            continue
        if first_long is not None and order.get(tag, 0) > first_long and tag.find(".//p") is None:
            continue  # a "description" after the body has started is not the standfirst
        text = clean_text(text_of(tag, " ").replace(BR, " "))
        if 30 <= len(text) <= 700 and len(tag.findall(".//p")) <= 2 \
                and next(tag.iterdescendants("h2", "h3", "ul", "ol"), None) is None:
            page.drop(tag)
            return text
    return None


# --- finding the body -----------------------------------------------------------------------------------------
@lru_cache(maxsize=16384)
def _content_names(names: tuple[str, ...]) -> bool:
    return any(n in rules.CONTENT_TOKENS for n in names)


def body_marker(page: Page) -> Element | None:
    """An element the publisher marked as the article body (schema.org articleBody or a body class)."""
    marked = [t for t in _WITH_ITEMPROP(page.root) if t.get("itemprop") == "articleBody"]
    marked += page.named(_content_names)
    if not marked:
        return None
    weights = page.weights()
    return max(marked, key=lambda t: weights.get(t, 0.0))


def find_body_root(page: Page, marker: Element | None) -> tuple[list[Element], bool]:
    """The body: the publisher's marked element(s), else the smallest element holding nearly all paragraph text;
    and whether the publisher marked it.

    A marked body can come in parts: publishers cut it into sibling rows around ads and asides, each part carrying
    the marker's class names. All the parts are the body, in document order.
    """
    body = next(page.root.iter("body"), page.root)
    weights = paragraph_weights(body)
    total = weights.get(body, 0.0)
    if marker is not None and not page.is_dropped(marker):
        parts = _marked_parts(page, marker, weights)
        if sum(weights.get(part, 0.0) for part in parts) >= 0.5 * total > 0:
            return (parts if len(parts) > 1 else [_widen_to_siblings(marker)]), True
    node = body
    while True:
        weight = weights.get(node, 0.0)
        heavy = [(c, weights.get(c, 0.0)) for c in node.iterchildren(etree.Element)]
        heavy = [(c, w) for c, w in heavy if w > 0]
        if weight == 0 or not heavy:
            return [node], False
        child, child_weight = max(heavy, key=lambda cw: cw[1])
        if child_weight < 0.92 * weight:
            return [node], False
        node = child


def _marked_parts(page: Page, marker: Element, weights: dict[Element, float]) -> list[Element]:
    """The elements bearing exactly the marker's class names and holding text, outermost only, in page order."""
    names = names_of(marker)
    same = [el for el in page.named(names.__eq__) if weights.get(el, 0.0) > 0] if names else []
    if marker not in same:
        return [marker]
    chosen = set(same)
    return [el for el in same if not any(a in chosen for a in el.iterancestors())]


def _widen_to_siblings(marker: Element) -> Element:
    """Publishers split the body around ads: when the marked element's siblings hold text, take the parent."""
    parent = marker.getparent()
    if parent is None or parent.tag in ("body", "html"):
        return marker
    mine = set(classes(marker))
    same = [s for s in parent.iterchildren(etree.Element) if s is not marker and set(classes(s)) & mine]
    return parent if same else marker


# --- walking the body into blocks -----------------------------------------------------------------------------
def _has_block(tag: Element) -> bool:
    return next(tag.iterdescendants(*rules.BLOCK_TAGS), None) is not None


_ONSITE_LINK = re.compile(f"{LINK_OPEN}[^{LINK_CLOSE}]*{LINK_CLOSE}")
_OFFSITE_LINK = re.compile(f"{OFFSITE_OPEN}[^{OFFSITE_CLOSE}]*{OFFSITE_CLOSE}")
_LINK_OR_BREAK = re.compile(f"{_ONSITE_LINK.pattern}|{_OFFSITE_LINK.pattern}|{BR}")
_MARKS_AND_SPACES = re.compile(f"[{LINK_OPEN}{LINK_CLOSE}{OFFSITE_OPEN}{OFFSITE_CLOSE}\\s]")
PROSE_RUN_CHARS = 300  # text without a link or a line break this long is an article's, not a card's


def _link_share(text: str, onsite_only: bool = False) -> float:
    """Share of `text` that is link text (only links into the page's own site, with `onsite_only`)."""
    links = _ONSITE_LINK.findall(text) + ([] if onsite_only else _OFFSITE_LINK.findall(text))
    total = len(_MARKS_AND_SPACES.sub("", text))
    return len(_MARKS_AND_SPACES.sub("", "".join(links))) / total if total else 0.0


def _br_lines(piece: str) -> list[str]:
    """Lines of a <br>-broken piece: a line continues the previous one only when it starts lower-case."""
    lines: list[str] = []
    for line in piece.split(BR):
        bare = clean_text(line)
        if not bare:
            continue
        if lines and bare[:1].islower():
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
    return lines


def _is_link_list(tag: Element) -> bool:
    """A container that is mostly links (three or more): related articles, a menu, a tag cloud."""
    if tag.tag in ("p", "blockquote", "li", "h1", "h2", "h3", "h4", "h5", "h6"):
        return False
    if len(list(islice(tag.iterdescendants("a"), 3))) < 3:
        return False
    text = text_of(tag)
    if _link_share(text) < 0.5:
        return False
    # A menu beside the article inside the same wrapper does not make the article a list of links.
    return max(map(len, _LINK_OR_BREAK.split(text)), default=0) < PROSE_RUN_CHARS


def _under_furniture_heading(listing: Element) -> bool:
    """A list whose heading is a furniture line ("Related internet links", "À lire aussi") is that furniture."""
    heading = next((el for el in listing.itersiblings(preceding=True) if isinstance(el.tag, str)), None)
    if heading is None or heading.tag not in rules.HEADING_TAGS:
        return False
    text = clean_text(text_of(heading, " ").replace(BR, " "))
    return bool(text) and not judge_line(text).keep


def _flush(run: list[str], kind: BlockKind, out: list, forced: bool) -> None:
    text = "".join(run)
    run.clear()
    for piece in re.split(rf"{BR}[\s\u00a0]*{BR}[{BR}\s\u00a0]*", text):
        for line in _br_lines(piece):
            if not forced and _link_share(line, onsite_only=True) >= 0.8:
                log.debug("dropped link-only line %r (a teaser)", clean_text(line)[:60])
                continue
            line = clean_text(line)
            if line:
                out.append((kind, line, forced))


def _row_cells(row: Element) -> list[str] | None:
    """A data table's row as its cells' texts ("Lyon, 522 250 habitants"); None for a layout row (a cell holding
    paragraphs, divs or a text's length is page layout, walked as such)."""
    cells = [cell for cell in row if isinstance(cell.tag, str) and cell.tag in ("td", "th")]
    if not cells or any(_has_block(cell) or stripped_length(cell) > PROSE_RUN_CHARS for cell in cells):
        return None
    texts = [text_of(cell).replace(BR, " ").strip() for cell in cells]  # link marks kept: a teaser row is one
    return [text for text in texts if clean_text(text)] or None


def walk(el: Element, out: list, kind: BlockKind, forced: bool = False) -> None:
    """Depth-first over the body: inline runs become blocks of `kind`; block children set their own kind."""
    run: list[str] = [el.text] if el.text else []
    forced = forced or is_forced(el)
    for child in el:
        if isinstance(child.tag, str):  # comments only carry the text after them
            _walk_child(child, run, out, kind, forced)
        if child.tail:
            run.append(child.tail)
    _flush(run, kind, out, forced)


def _walk_child(child: Element, run: list[str], out: list, kind: BlockKind, forced: bool) -> None:
    """One element inside a walked element: part of the current run, or a block of its own."""
    name = child.tag
    is_block = name in rules.BLOCK_TAGS or _has_block(child)
    if not is_block:
        if is_forced(child) and not forced:
            _flush(run, kind, out, forced)
            _flush([text_of(child)], kind, out, True)
        else:
            run.append(text_of(child))
        return
    _flush(run, kind, out, forced)
    if not forced and not is_forced(child) and (_is_link_list(child) or name == "a"):
        log.debug("dropped a list of links or a link card (related articles, menu)")
        return
    if not forced and name in ("ul", "ol") and _under_furniture_heading(child):
        log.debug("dropped a list under a furniture heading (\"Related links\", \"Sur le même sujet\")")
        return
    if name == "tr" and (cells := _row_cells(child)) is not None:
        _flush([", ".join(cells)], "paragraph", out, forced or is_forced(child))
    elif name in rules.HEADING_TAGS or name == "h1":
        _flush([text_of(child)], "heading", out, forced or is_forced(child))
    elif name == "blockquote":
        walk(child, out, "quote", forced)
    elif name == "li":
        walk(child, out, "list_item", forced)
    elif name == "p":
        walk(child, out, kind if kind in ("quote", "list_item") else "paragraph", forced)
    else:
        walk(child, out, kind, forced)

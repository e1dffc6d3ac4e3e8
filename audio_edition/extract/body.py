"""The article inside the page: title <h1>, byline, standfirst, the body element, and the walk into blocks."""

from __future__ import annotations

import logging
import re

from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, ProcessingInstruction, Tag

from ..models import BlockKind
from . import rules
from .lines import clean_text, fold, tidy_byline, words
from .metadata import PageMeta, strip_site_name
from .tree import BR, LINK_CLOSE, LINK_OPEN, classes, is_forced, is_hidden, paragraph_weights, tokens

log = logging.getLogger(__name__)

def pick_title_h1(soup: BeautifulSoup, meta: PageMeta) -> Tag | None:
    """The article's <h1>: not the site logo, preferably the one matching the page's declared headline."""
    best, best_score = None, -1.0
    headlines = [fold(strip_site_name(h, meta.site_name)) for h in meta.headlines()]
    for h1 in soup.find_all("h1"):
        text = fold(h1.get_text(" ").replace(BR, " "))
        if len(text) < 3:
            continue
        score = 0.0
        if any(text == h or (len(text) > 15 and (text in h or h in text)) for h in headlines):
            score += 4
        if h1.find_parent(["article", "main"]) or h1.find_parent(attrs={"role": "main"}):
            score += 2
        if "headline" in str(h1.get("itemprop", "")):
            score += 4
        names = " ".join(classes(h1) + [n for p in h1.parents if isinstance(p, Tag) for n in classes(p)][:6])
        if re.search(r"site|logo|brand|masthead", names):
            score -= 5
        if site := meta.site_name:
            if text == fold(site):
                score -= 5
        if is_hidden(h1):
            score -= 3
        score += min(len(text), 120) / 120  # a headline is a sentence, a logo a word or two
        if score > best_score:
            best, best_score = h1, score
    return best if best is not None and best_score >= 0.2 else None


def dom_byline(soup: BeautifulSoup) -> str | None:
    candidates = soup.find_all(attrs={"rel": "author"}) + soup.find_all(attrs={"itemprop": "author"})
    candidates += soup.find_all(lambda t: any(tok in ("byline", "author", "auteur", "signature")
                                              for n in classes(t) for tok in tokens(n)))
    ids = {id(t) for t in candidates}
    # The innermost element is the name; wrappers ("date-author") add dates and labels.
    candidates = [t for t in candidates if not any(id(d) in ids for d in t.find_all(True))]
    if not candidates:
        # No byline markup: a short "Par Marc Olivier | le 02/10/2024" line anywhere before cleaning.
        starts = soup.find_all(string=re.compile(r"^\s*(Par|By|PAR)\b"))
        for tag in (s.parent for s in starts if isinstance(s.parent, Tag)):
            text = clean_text(tag.get_text(" ").replace(BR, " "))
            if words(text) <= 20:
                head = tidy_byline(text)
                if rules.BYLINE.match(head):
                    return head
    for tag in candidates:
        text = clean_text(tag.get_text(" ").replace(BR, " "))
        text = tidy_byline(text)
        if 3 <= len(text) <= 120 and not text.lower().startswith(("http", "©")):
            if re.match(r"(?i)^(par|by)\b", text) or rules.BYLINE.match(text):
                return text
            return f"Par {text}"
    return None


def take_standfirst(soup: BeautifulSoup, title_h1: Tag | None) -> str | None:
    """The chapô: a class or itemprop says so; it is taken out of the body so that it is read once."""
    def is_standfirst(tag: Tag) -> bool:
        if tag.name in ("html", "body", "article", "main", "section", "img", "a"):
            return False
        if "description" in str(tag.get("itemprop", "")) or "alternativeHeadline" in str(tag.get("itemprop", "")):
            return True
        return any(rules.STANDFIRST_PATTERN.search(n) for n in classes(tag))

    found = soup.find_all(is_standfirst)
    if title_h1 is not None and not title_h1.decomposed:
        # A long sentence in the heading right after the title is a standfirst, whatever its class.
        following = title_h1.find_next_sibling(True)
        if following is not None and following.name in ("h2", "h3", "p") and following not in found:
            text = clean_text(following.get_text(" ").replace(BR, " "))
            if following.name != "p" and len(text) >= 70 and re.search(r"[.!?…»]$", text):
                found.insert(0, following)
    order = {id(t): i for i, t in enumerate(soup.find_all(True))}
    first_long = next((order[id(p)] for p in soup.find_all("p") if len(p.get_text(strip=True)) > 150), None)
    for tag in found:
        if tag.decomposed:
            continue
        if first_long is not None and order.get(id(tag), 0) > first_long and not tag.find("p", recursive=True):
            continue  # a "description" after the body has started is not the standfirst
        text = clean_text(tag.get_text(" ").replace(BR, " "))
        if 30 <= len(text) <= 700 and len(tag.find_all("p")) <= 2 and not tag.find(["h2", "h3", "ul", "ol"]):
            tag.decompose()
            return text
    return None


# --- finding the body -----------------------------------------------------------------------------------------
def body_marker(soup: BeautifulSoup) -> Tag | None:
    """An element the publisher marked as the article body (schema.org articleBody or a body class)."""
    marked = soup.find_all(attrs={"itemprop": "articleBody"})
    marked += soup.find_all(lambda t: any(n in rules.CONTENT_TOKENS for n in classes(t)))
    if not marked:
        return None
    weights = paragraph_weights(soup)
    return max(marked, key=lambda t: weights.get(id(t), 0.0))


def find_body_root(soup: BeautifulSoup, marker: Tag | None) -> Tag:
    """The smallest element holding nearly all of the page's paragraph text."""
    body = soup.body or soup
    weights = paragraph_weights(body)
    total = weights.get(id(body), 0.0)
    if marker is not None and not marker.decomposed and weights.get(id(marker), 0.0) >= 0.5 * total > 0:
        return _widen_to_siblings(marker)
    node = body
    while True:
        weight = weights.get(id(node), 0.0)
        heavy = [(c, weights.get(id(c), 0.0)) for c in node.find_all(True, recursive=False)]
        heavy = [(c, w) for c, w in heavy if w > 0]
        if weight == 0 or not heavy:
            return node
        child, child_weight = max(heavy, key=lambda cw: cw[1])
        if child_weight < 0.92 * weight:
            return node
        node = child


def _widen_to_siblings(marker: Tag) -> Tag:
    """Publishers split the body around ads: when the marked element's siblings hold text, take the parent."""
    parent = marker.parent
    if not isinstance(parent, Tag) or parent.name in ("body", "html"):
        return marker
    same = [s for s in parent.find_all(True, recursive=False) if s is not marker and set(classes(s)) & set(classes(marker))]
    return parent if same else marker


# --- walking the body into blocks -----------------------------------------------------------------------------
def _has_block(tag: Tag) -> bool:
    return tag.find(lambda t: t.name in rules.BLOCK_TAGS) is not None


def _link_share(text: str) -> float:
    inside = "".join(re.findall(f"{LINK_OPEN}([^{LINK_CLOSE}]*){LINK_CLOSE}", text))
    total = len(re.sub(r"\s", "", text.replace(LINK_OPEN, "").replace(LINK_CLOSE, "")))
    return len(re.sub(r"\s", "", inside)) / total if total else 0.0


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


def _is_link_list(tag: Tag) -> bool:
    """A container that is mostly links (three or more): related articles, a menu, a tag cloud."""
    if tag.name in ("p", "blockquote", "li", "h1", "h2", "h3", "h4", "h5", "h6"):
        return False
    if len(tag.find_all("a", limit=3)) < 3:
        return False
    return _link_share(tag.get_text()) >= 0.5


def _flush(run: list[str], kind: BlockKind, out: list, forced: bool) -> None:
    text = "".join(run)
    run.clear()
    for piece in re.split(rf"{BR}[\s\u00a0]*{BR}[{BR}\s\u00a0]*", text):
        for line in _br_lines(piece):
            if not forced and _link_share(line) >= 0.8:
                log.debug("dropped link-only line %r (a teaser)", clean_text(line)[:60])
                continue
            line = clean_text(line)
            if line:
                out.append((kind, line, forced))


def walk(el: Tag, out: list, kind: BlockKind, forced: bool = False) -> None:
    """Depth-first over the body: inline runs become blocks of `kind`; block children set their own kind."""
    run: list[str] = []
    forced = forced or is_forced(el)
    for child in el.children:
        if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
            continue
        if isinstance(child, NavigableString):
            run.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        is_block = name in rules.BLOCK_TAGS or _has_block(child)
        if not is_block:
            if is_forced(child) and not forced:
                _flush(run, kind, out, forced)
                _flush([child.get_text()], kind, out, True)
            else:
                run.append(child.get_text())
            continue
        _flush(run, kind, out, forced)
        if not forced and not is_forced(child) and (_is_link_list(child) or name == "a"):
            log.debug("dropped a list of links or a link card (related articles, menu)")
            continue
        if name in rules.HEADING_TAGS or name == "h1":
            _flush([child.get_text()], "heading", out, forced or is_forced(child))
        elif name == "blockquote":
            walk(child, out, "quote", forced)
        elif name == "li":
            walk(child, out, "list_item", forced)
        elif name == "p":
            walk(child, out, kind if kind in ("quote", "list_item") else "paragraph", forced)
        else:
            walk(child, out, kind, forced)
    _flush(run, kind, out, forced)

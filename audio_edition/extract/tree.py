"""The page tree (lxml): reading its text, and cleaning it — never-text, publisher overrides, hidden elements,
furniture by tag, role and class.

Text is read the way the extractor has always read it (BeautifulSoup's model, kept so that every threshold means
what it meant): a run of ASCII whitespace alone between two tags counts as one space or newline (except in <pre>
and <textarea>), ruby annotations are not the text of what holds them, and every text node stays a separate
string. For that last point a removed element leaves an empty comment in its place that carries its tail: the
text before and after it stays two strings, as in a browser's DOM. Comments are skipped wherever elements are
visited (their `.tag` is not a str); their tails are text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from itertools import islice
from typing import TypeAlias

from lxml import etree

from audio_edition.extract import rules

Element: TypeAlias = etree._Element

BR = "\u2028"  # stands for <br> while walking: two in a row split a paragraph, one is a space
TTS_ONLY = "data-ae-tts-only"
LINK_OPEN, LINK_CLOSE = "\u2063", "\u2064"  # invisible marks around link text while walking
OFFSITE_OPEN, OFFSITE_CLOSE = "\u2061", "\u2062"  # the same around the text of a link to another site

_ASCII_SPACES = " \n\t\f\r"
_PRESERVE_SPACE = ("pre", "textarea")
_RUBY = ("rt", "rp")
_LIST_REL = frozenset({"a", "link", "area"})  # where `rel` is a list of words (elsewhere, one value)
_NAMED = etree.XPath("descendant-or-self::*[@class != '' or @id != '']")


# --- the parsed page ------------------------------------------------------------------------------------------
class Page:
    """The page being cleaned: its root, its elements' document order and class/id names (read once, in the
    pass that also squeezes blank text), and the elements removed so far (a removed element's descendants count
    as removed too, so a list gathered before a removal can skip them)."""

    __slots__ = ("_by_names", "_weights", "dropped", "order", "root")

    def __init__(self, root: Element) -> None:
        self.root = root
        # Holding every element's proxy keeps its identity stable, so elements can be dict and set keys.
        self.order: dict[Element, int] = {}
        self._by_names: dict[tuple[str, ...], list[Element]] = {}  # elements grouped by their class/id names
        self._read(root)
        self.dropped: set[Element] = set()
        self._weights: dict[Element, float] | None = None

    def _read(self, root: Element) -> None:
        """One pass over every node: document order, class/id names, blank text squeezed (module docstring)."""
        preserved = {el for top in root.iter(*_PRESERVE_SPACE) for el in top.iter()}
        order, groups = self.order, self._by_names
        for node in root.iter():
            if isinstance(node.tag, str):
                order[node] = len(order)
                text = node.text
                if text and text != " " and text != "\n" and not text.strip(_ASCII_SPACES) and node not in preserved:
                    node.text = "\n" if "\n" in text else " "
            tail = node.tail
            if tail and tail != " " and tail != "\n" and not tail.strip(_ASCII_SPACES) \
                    and (not preserved or node.getparent() not in preserved):
                node.tail = "\n" if "\n" in tail else " "
        for node in _NAMED(root):
            groups.setdefault(_class_names(node.get("class"), node.get("id")), []).append(node)

    def tags(self, *names: str) -> list[Element]:
        """Elements in document order (the root included), optionally only those named."""
        return list(self.root.iter(*names)) if names else list(self.root.iter(etree.Element))

    def named(self, test: Callable[[tuple[str, ...]], bool]) -> list[Element]:
        """Elements still in the page whose class and id names pass `test`, in document order."""
        picked = [el for names, els in self._by_names.items() if test(names) for el in els if el not in self.dropped]
        return sorted(picked, key=self.order.__getitem__)

    def in_order(self, elements: Iterable[Element]) -> list[Element]:
        """`elements` still in the page, once each, in document order."""
        return sorted({el for el in elements if el not in self.dropped}, key=self.order.__getitem__)

    def is_dropped(self, el: Element) -> bool:
        return el in self.dropped

    def weights(self) -> dict[Element, float]:
        """paragraph_weights of the whole page, kept until the tree changes."""
        if self._weights is None:
            self._weights = paragraph_weights(self.root)
        return self._weights

    def drop(self, el: Element) -> None:
        """Remove `el` and everything inside; the text after it stays where it was."""
        if el in self.dropped:
            return
        self._weights = None
        self.dropped.update(el.iter(etree.Element))
        parent = el.getparent()
        if parent is None:  # the root itself: keep an empty root so that the rest of the steps find nothing
            el.text = None
            for child in list(el):
                el.remove(child)
            return
        parent.replace(el, _placeholder(el.tail))

    def unwrap(self, el: Element) -> None:
        """Replace `el` by its content (text and children); `el` itself is no longer in the page."""
        parent = el.getparent()
        if parent is None:
            return
        self._weights = None
        self.dropped.add(el)
        index = parent.index(el)
        nodes = [_placeholder(el.text), *el, _placeholder(el.tail)]
        parent.remove(el)
        for offset, node in enumerate(nodes):
            parent.insert(index + offset, node)


def _placeholder(tail: str | None) -> Element:
    """An empty comment holding a text node that was a sibling string in BeautifulSoup's tree."""
    mark = etree.Comment()
    mark.tail = tail or None
    return mark


# --- reading text ---------------------------------------------------------------------------------------------
def text_of(el: Element, separator: str = "") -> str:
    """All the text inside `el` (not its tail), strings joined by `separator`."""
    return separator.join(_strings(el))


def stripped_length(el: Element) -> int:
    """Characters of text inside `el`, each string stripped of the whitespace around it."""
    return sum(len(s.strip()) for s in _strings(el))


def _strings(el: Element) -> Iterable[str]:
    """The text nodes inside `el`. Ruby annotations (<rt>, <rp>) inside it are not its text; read on their own,
    they are."""
    if el.tag in _RUBY or next(el.iterdescendants(*_RUBY), None) is None:
        return el.itertext()
    return _strings_outside_ruby(el)


def _strings_outside_ruby(el: Element) -> Iterator[str]:
    inside = 0  # how many <rt>/<rp> the walk is in
    for event, node in etree.iterwalk(el, events=("start", "end", "comment", "pi")):
        if event == "start":
            if node.tag in _RUBY:
                inside += 1
            elif node.text and not inside:
                yield node.text
            continue
        if event == "end" and node.tag in _RUBY:
            inside -= 1
        if node is not el and node.tail and not inside:
            yield node.tail


def own_text(el: Element) -> str:
    """The strings directly inside `el` (not inside its child elements)."""
    parts = [el.text or ""]
    for child in el:
        tail = child.tail
        if tail:
            parts.append(tail)
    return "".join(parts)


def strings_with_parent(root: Element) -> Iterator[tuple[str, Element]]:
    """Every text node under `root` in document order, with the element it is directly inside."""
    for event, node in etree.iterwalk(root, events=("start", "end", "comment", "pi")):
        if event == "start":
            if node.text:
                yield node.text, node
        elif node is not root and node.tail:
            parent = node.getparent()
            if parent is not None:
                yield node.tail, parent


def replace_brs(page: Page) -> None:
    """<br> becomes the BR mark at the start of the text after it."""
    for br in page.tags("br"):
        if not page.is_dropped(br):
            br.tail = BR + (br.tail or "")
            page.drop(br)


def mark_links(root: Element, site: str | None = None) -> None:
    """LINK_OPEN / LINK_CLOSE around the text of every link under `root`, to measure link-only lines; links to
    another site than `site` get OFFSITE_OPEN / OFFSITE_CLOSE instead (a teaser points into its own site)."""
    for link in list(root.iterdescendants("a")):
        offsite = site is not None and (other := site_of(link.get("href") or "")) is not None and other != site
        opening, closing = (OFFSITE_OPEN, OFFSITE_CLOSE) if offsite else (LINK_OPEN, LINK_CLOSE)
        link.text = opening + (link.text or "")
        if len(link):
            last = link[-1]
            last.tail = (last.tail or "") + closing
        else:
            link.text += closing


_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "ac", "edu", "gouv", "asso", "ne", "or"})


def site_of(url: str) -> str | None:
    """The registrable part of an absolute URL's host ("lemonde.fr", "bbc.co.uk"); None for a relative link."""
    match = re.match(r"(?i)^(?:https?:)?//([^/:?#@]+)", url.strip())
    if match is None:
        return None
    labels = match.group(1).lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


# --- class names ----------------------------------------------------------------------------------------------
# Every test on class and id names is a cached function of the names (pages repeat them; so do sites).
def classes(tag: Element) -> list[str]:
    return list(names_of(tag))


def names_of(tag: Element) -> tuple[str, ...]:
    """The element's class names and id, lower-cased."""
    return _class_names(tag.get("class"), tag.get("id"))


@lru_cache(maxsize=16384)
def _class_names(class_attr: str | None, ident: str | None) -> tuple[str, ...]:
    names = class_attr.split() if class_attr else []
    if ident:
        names.append(ident)
    return tuple(n.lower() for n in names)


@lru_cache(maxsize=16384)
def tokens(name: str) -> tuple[str, ...]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return tuple(t for t in re.split(r"[\s_\-]+|--", spaced.lower()) if t)


def attr_words(tag: Element, name: str) -> list[str]:
    """An attribute's value as BeautifulSoup matched it: a list of words for `rel` on links, else one value."""
    value = tag.get(name)
    if value is None:
        return []
    return value.split() if name == "rel" and tag.tag in _LIST_REL else [value]


@lru_cache(maxsize=16384)
def hidden_names(names: tuple[str, ...]) -> bool:
    return any(name in rules.HIDDEN_CLASSES for name in names)


def is_hidden_class(tag: Element) -> bool:
    return hidden_names(names_of(tag))


def in_running_text(tag: Element) -> bool:
    """An inline element inside a sentence ("<a class='tag'>Emmanuel Macron</a> a dit ...") is part of it."""
    if tag.tag not in rules.INLINE_TAGS:
        return False
    block = next(tag.iterancestors(*rules.BLOCK_TAGS), None)
    if block is None:
        return False
    own = stripped_length(tag)
    around = stripped_length(block) - own
    return around > max(20, own // 2)


def is_noise_class(tag: Element) -> bool:
    return noise_names(names_of(tag))


_NOISE_SUBSTRING = re.compile("|".join(re.escape(s) for s in rules.NOISE_SUBSTRINGS))  # any of them, in one scan


@lru_cache(maxsize=16384)
def noise_names(names: tuple[str, ...]) -> bool:
    for name in names:
        if name in rules.CONTENT_TOKENS:
            return False
    for name in names:
        if name in rules.NOISE_TOKENS or name in rules.NOISE_CLASSES or _NOISE_SUBSTRING.search(name):
            return True
        if any(t in rules.NOISE_TOKENS for t in tokens(name)):
            return True
    return False


@lru_cache(maxsize=16384)
def _skip_names(names: tuple[str, ...]) -> bool:
    return "tts-skip" in names


# --- cleaning -------------------------------------------------------------------------------------------------
# Elements carrying an attribute, in document order (the root included): one C-level pass instead of a
# Python test on every element.
_WITH_DATA_TTS = etree.XPath("descendant-or-self::*[@data-tts]")
_WITH_ROLE = etree.XPath("descendant-or-self::*[@role]")
_WITH_ITEMPROP = etree.XPath("descendant-or-self::*[@itemprop]")
_MAYBE_HIDDEN = etree.XPath("descendant-or-self::*[@hidden or @aria-hidden or @style]")
_AMP = etree.XPath("descendant-or-self::*[starts-with(local-name(), 'amp-')]")
_FORCED = etree.XPath(f"descendant-or-self::*[@{TTS_ONLY}]")


def _drop_all(page: Page, tags: Iterable[Element]) -> None:
    for tag in tags:
        page.drop(tag)


def drop_never_text(page: Page) -> None:
    """Scripts, styles, embeds: never text, whatever the page says (comments are skipped wherever text is read)."""
    _drop_all(page, page.tags(*rules.NEVER_TEXT_TAGS))
    _drop_all(page, [t for t in _AMP(page.root) if t.tag.startswith(rules.DROP_TAG_PREFIXES)
                     and t.tag not in rules.KEEP_AMP_TAGS])


def mark_tts_only(page: Page) -> None:
    """`data-tts="only"`: text for the ear only; it survives the hidden and furniture rules."""
    only = re.compile(r"^\s*only\s*$", re.IGNORECASE)
    for tag in _WITH_DATA_TTS(page.root):
        if only.search(tag.get("data-tts", "")):
            tag.set(TTS_ONLY, "1")


def drop_publisher_skips(page: Page) -> None:
    skips = [t for t in _WITH_DATA_TTS(page.root) if t.get("data-tts", "").strip().lower() == "skip"]
    _drop_all(page, page.in_order(skips + page.named(_skip_names)))


_NOTE_MARK = re.compile(r"[\[(]?\s*(\d{1,3}|[a-z]|[ivx]{1,4}|[*†‡]{1,3})\s*[\])]?|[↩↑⤴^]\ufe0e?", re.IGNORECASE)


def drop_footnote_marks(page: Page) -> None:
    """Footnote calls ("ans<sup>3</sup>", "[4]", SPIP's "[1]") and back-links ("↩") are not words: they go, with
    the <sup> or note span around them. (The notes themselves go as furniture: see rules.NOISE_TOKENS.)"""
    for link in page.tags("a"):
        if page.is_dropped(link) or not link.get("href", "").startswith("#"):
            continue
        if not _NOTE_MARK.fullmatch(text_of(link).strip().replace("\u00a0", " ")):
            continue
        wrapper = link.getparent()
        mark = text_of(wrapper).replace("\u00a0", " ").strip() if wrapper is not None else ""
        wraps_only_it = wrapper is not None and wrapper.tag in ("sup", "span") and _NOTE_MARK.fullmatch(mark)
        page.drop(wrapper if wraps_only_it else link)


def is_forced(tag: Element) -> bool:
    return tag.get(TTS_ONLY) is not None


def protected_nodes(title_h1: Element | None, body_marker: Element | None, page: Page) -> set[Element]:
    """Ancestors of the title and of the article body: a wrapper's odd class must not take the article."""
    keep: set[Element] = set()
    for anchor in (title_h1, body_marker):
        if anchor is not None:
            keep.add(anchor)
            keep.update(anchor.iterancestors())
    keep.update(page.tags("html", "body"))
    # A container holding most of the page's paragraph text is the article, whatever its class says; so is one
    # holding half of the publisher's marked body (`<div class="paywall">` around the paragraphs after the first).
    weights = page.weights()
    total = weights.get(page.root, 0.0)
    inside = weights.get(body_marker, 0.0) if body_marker is not None else 0.0
    if total > 0:
        for tag, weight in weights.items():
            if tag in keep or not is_noise_class(tag):
                continue
            if weight >= 0.6 * total or (inside > 0 and weight >= 0.5 * inside and body_marker in tag.iterancestors()):
                keep.add(tag)
    return keep


def drop_structural(page: Page, protected: set[Element]) -> None:
    for tag in page.tags(*rules.DROP_TAGS, "header"):
        if page.is_dropped(tag) or is_forced(tag):
            continue
        if tag.tag == "figure" and tag.find(".//blockquote") is not None:
            _drop_all(page, list(tag.iterdescendants("figcaption", "img", "picture")))
            continue  # a quote with its attribution (HTML's recommended markup) is body text
        if tag.tag == "figure" and tag.find(".//table") is not None:
            continue  # a data table (Gutenberg's wp-block-table): its rows are read, its caption goes on its own
        if tag in protected:
            continue  # it holds the title or the body: an odd wrapper, not furniture
        if tag.tag == "header":
            if tag.find(".//h1") is not None or next(tag.iterancestors("article", "main"), None) is not None:
                continue  # the article's own header: title, standfirst, byline (handled separately)
            page.drop(tag)  # the site's header: logo, menu, slogan
            continue
        if tag.tag == "form" and len(list(islice(tag.iterdescendants("p"), 3))) >= 3:
            page.unwrap(tag)  # ASP.NET pages wrap the whole page in one <form>
            continue
        page.drop(tag)
    for tag in _WITH_ROLE(page.root):
        if page.is_dropped(tag) or is_forced(tag) or tag in protected:
            continue
        if tag.get("role", "").strip().lower() in rules.DROP_ROLES:
            page.drop(tag)
    for tag in _WITH_ITEMPROP(page.root):
        if page.is_dropped(tag) or is_forced(tag) or tag in protected:
            continue
        if set(tag.get("itemprop", "").split()) & rules.DROP_ITEMPROPS and not in_running_text(tag):
            page.drop(tag)


def is_hidden(tag: Element) -> bool:
    if tag.get("hidden") is not None or is_hidden_class(tag):
        return True
    if tag.get("aria-hidden", "").strip().lower() == "true":
        return True
    style = tag.get("style")
    return bool(style and rules.HIDDEN_STYLE.search(style))


def drop_hidden(page: Page, protected: set[Element]) -> None:
    hidden = [t for t in _MAYBE_HIDDEN(page.root) if is_hidden(t)] + page.named(hidden_names)
    for tag in page.in_order(hidden):
        if not page.is_dropped(tag) and not is_forced(tag) and tag not in protected:
            page.drop(tag)


def drop_noise_classes(page: Page, protected: set[Element]) -> None:
    holds_forced = {parent for tag in _FORCED(page.root) for parent in tag.iterancestors()}
    for tag in page.named(noise_names):
        if page.is_dropped(tag) or is_forced(tag) or tag in protected or tag.tag in ("html", "body"):
            continue
        if tag in holds_forced:
            continue
        if not in_running_text(tag):
            page.drop(tag)


# --- measuring text ------------------------------------------------------------------------------------------
def _link_density(tag: Element, text_length: int) -> float:
    if not text_length:
        return 0.0
    links = sum(len(text_of(a).strip()) for a in tag.iterdescendants("a"))
    return min(1.0, links / text_length)


_WEIGHED = ("p", "blockquote", "li", "pre", "td", "div", "font", "center", "section", "article", "main", "body")
_OWN_TEXT = frozenset({"td", "div", "font", "center", "section", "article", "main", "body"})


def _own_weight(tag: Element) -> float:
    """The readable text `tag` itself adds: a paragraph's text (link text discounted), a container's loose text."""
    if tag.tag in _OWN_TEXT:
        return float(len(own_text(tag).replace(BR, " ").strip()))
    if tag.tag == "p" or next(tag.iterdescendants("p"), None) is None:
        length = len(text_of(tag).strip())
        return length * (1 - _link_density(tag, length))
    return 0.0


def paragraph_weights(root: Element) -> dict[Element, float]:
    """How much readable paragraph text each subtree holds (link text discounted), in one pass.

    Old pages put text straight into <td>/<div> with <br>s, so direct text counts too.
    """
    weights: dict[Element, float] = {}
    for tag in root.iter(*_WEIGHED):
        own = _own_weight(tag)
        if own <= 0:
            continue
        weights[tag] = weights.get(tag, 0.0) + own
        if tag is root:
            continue
        for node in tag.iterancestors():
            weights[node] = weights.get(node, 0.0) + own
            if node is root:
                break
    return weights

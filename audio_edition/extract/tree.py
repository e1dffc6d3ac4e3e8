"""Cleaning the page tree: what is never text, publisher overrides, hidden elements, furniture by class."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, Doctype, ProcessingInstruction, Tag

from . import rules

BR = "\u2028"  # stands for <br> while walking: two in a row split a paragraph, one is a space
TTS_ONLY = "data-ae-tts-only"
LINK_OPEN, LINK_CLOSE = "\u2063", "\u2064"  # invisible marks around link text while walking


def classes(tag: Tag) -> list[str]:
    value = tag.get("class") or []
    names = value if isinstance(value, list) else str(value).split()
    ident = tag.get("id")
    if ident:
        names = [*names, str(ident)]
    return [n.lower() for n in names]


def tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[\s_\-]+|--", spaced.lower()) if t]


def is_hidden_class(tag: Tag) -> bool:
    return any(name in rules.HIDDEN_CLASSES for name in classes(tag))


def in_running_text(tag: Tag) -> bool:
    """An inline element inside a sentence ("<a class='tag'>Emmanuel Macron</a> a dit ...") is part of it."""
    if tag.name not in rules.INLINE_TAGS:
        return False
    block = tag.find_parent(lambda t: t.name in rules.BLOCK_TAGS)
    if block is None:
        return False
    own = len(tag.get_text(strip=True))
    around = len(block.get_text(strip=True)) - own
    return around > max(20, own // 2)


def is_noise_class(tag: Tag) -> bool:
    for name in classes(tag):
        if name in rules.CONTENT_TOKENS:
            return False
    for name in classes(tag):
        if name in rules.NOISE_TOKENS or name in rules.NOISE_CLASSES or any(s in name for s in rules.NOISE_SUBSTRINGS):
            return True
        if any(t in rules.NOISE_TOKENS for t in tokens(name)):
            return True
    return False


def drop_never_text(soup: BeautifulSoup) -> None:
    """Scripts, styles, comments, embeds: never text, whatever the page says."""
    for node in soup.find_all(string=lambda s: isinstance(s, (Comment, Doctype, ProcessingInstruction))):
        node.extract()
    for tag in soup.find_all(list(rules.NEVER_TEXT_TAGS)):
        if not tag.decomposed:
            tag.decompose()
    for tag in soup.find_all(lambda t: t.name.startswith(rules.DROP_TAG_PREFIXES)
                             and t.name not in rules.KEEP_AMP_TAGS):
        if not tag.decomposed:
            tag.decompose()


def mark_tts_only(soup: BeautifulSoup) -> None:
    """`data-tts="only"`: text for the ear only; it survives the hidden and furniture rules."""
    for tag in soup.find_all(attrs={"data-tts": re.compile(r"^\s*only\s*$", re.IGNORECASE)}):
        tag[TTS_ONLY] = "1"


def drop_publisher_skips(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(lambda t: str(t.get("data-tts", "")).strip().lower() == "skip"
                             or "tts-skip" in classes(t)):
        if not tag.decomposed:
            tag.decompose()


def is_forced(tag: Tag) -> bool:
    return tag.has_attr(TTS_ONLY)


def protected_nodes(title_h1: Tag | None, body_marker: Tag | None, soup: BeautifulSoup) -> set[int]:
    """Ancestors of the title and of the article body: a wrapper's odd class must not take the article."""
    keep: set[int] = set()
    for anchor in (title_h1, body_marker):
        node = anchor
        while node is not None and isinstance(node, Tag):
            keep.add(id(node))
            node = node.parent
    for tag in soup.find_all(["html", "body"]):
        keep.add(id(tag))
    # A container holding most of the page's paragraph text is the article, whatever its class says.
    weights = paragraph_weights(soup)
    total = weights.get(id(soup), 0.0)
    if total > 0:
        for tag in soup.find_all(True):
            weight = weights.get(id(tag), 0.0)
            if weight >= 0.6 * total and id(tag) not in keep and is_noise_class(tag):
                keep.add(id(tag))
    return keep


def drop_structural(soup: BeautifulSoup, protected: set[int]) -> None:
    for tag in soup.find_all(list(rules.DROP_TAGS) + ["header"]):
        if tag.decomposed or is_forced(tag):
            continue
        if tag.name == "figure" and tag.find("blockquote"):
            for part in tag.find_all(["figcaption", "img", "picture"]):
                part.decompose()
            continue  # a quote with its attribution (HTML's recommended markup) is body text
        if id(tag) in protected:
            continue  # it holds the title or the body: an odd wrapper, not furniture
        if tag.name == "header":
            if tag.find("h1") is not None or tag.find_parent(["article", "main"]) is not None:
                continue  # the article's own header: title, standfirst, byline (handled separately)
            tag.decompose()  # the site's header: logo, menu, slogan
            continue
        if tag.name == "form" and len(tag.find_all("p")) >= 3:
            tag.unwrap()  # ASP.NET pages wrap the whole page in one <form>
            continue
        tag.decompose()
    for tag in soup.find_all(attrs={"role": True}):
        if tag.decomposed or is_forced(tag) or id(tag) in protected:
            continue
        if str(tag.get("role")).strip().lower() in rules.DROP_ROLES:
            tag.decompose()
    for tag in soup.find_all(attrs={"itemprop": True}):
        if tag.decomposed or is_forced(tag) or id(tag) in protected:
            continue
        if set(str(tag.get("itemprop")).split()) & rules.DROP_ITEMPROPS and not in_running_text(tag):
            tag.decompose()


def is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or is_hidden_class(tag):
        return True
    if str(tag.get("aria-hidden", "")).strip().lower() == "true":
        return True
    style = tag.get("style")
    return bool(style and rules.HIDDEN_STYLE.search(str(style)))


def drop_hidden(soup: BeautifulSoup, protected: set[int]) -> None:
    for tag in soup.find_all(is_hidden):
        if not tag.decomposed and not is_forced(tag) and id(tag) not in protected:
            tag.decompose()


def drop_noise_classes(soup: BeautifulSoup, protected: set[int]) -> None:
    holds_forced = {id(parent) for tag in soup.find_all(attrs={TTS_ONLY: True}) for parent in tag.parents}
    for tag in soup.find_all(True):
        if tag.decomposed or is_forced(tag) or id(tag) in protected or tag.name in ("html", "body"):
            continue
        if id(tag) in holds_forced:
            continue
        if is_noise_class(tag) and not in_running_text(tag):
            tag.decompose()


# --- measuring text ------------------------------------------------------------------------------------------
def _link_density(tag: Tag) -> float:
    text = len(tag.get_text().strip())
    if not text:
        return 0.0
    links = sum(len(a.get_text().strip()) for a in tag.find_all("a"))
    return min(1.0, links / text)


def paragraph_weights(root: Tag) -> dict[int, float]:
    """How much readable paragraph text each subtree holds (link text discounted), in one pass.

    Keyed by id(tag). Old pages put text straight into <td>/<div> with <br>s, so direct text counts too.
    """
    weights: dict[int, float] = {}
    for tag in [root, *root.find_all(True)]:
        name = tag.name
        if name == "p" or (name in ("blockquote", "li", "pre") and tag.find("p") is None):
            text = tag.get_text()
            own = len(text.strip()) * (1 - _link_density(tag))
        elif name in ("td", "div", "font", "center", "section", "article", "main", "body"):
            own = len("".join(tag.find_all(string=True, recursive=False)).replace(BR, " ").strip())
        else:
            continue
        if own <= 0:
            continue
        node = tag
        while node is not None:
            weights[id(node)] = weights.get(id(node), 0.0) + own
            if node is root:
                break
            node = node.parent
    return weights

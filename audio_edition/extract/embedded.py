"""Where the text really is: article bodies a page carries as data rather than as markup.

Pages rendered by script show a teaser (or nothing) in their markup and hold the whole article in data: JSON-LD
`articleBody`, Next.js `__NEXT_DATA__`, Nuxt and other `application/json` state, as one string (plain or HTML)
or as a list of typed blocks (`{"type": "paragraph", "text": …}`, Arc XP `content_elements`, Gutenberg blocks).
Every such body is a candidate; the one taken is the fullest that holds what the markup shows (so a "most read"
list or a related article elsewhere in the data is never taken for the article).
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

from audio_edition.extract.consensus import Candidate, holds
from audio_edition.extract.lines import clean_text, judge_line
from audio_edition.models import BlockKind

log = logging.getLogger(__name__)

_DATA_SCRIPT = re.compile(
    r"<script\b[^>]*\btype\s*=\s*[\"']?application/(?:ld\+)?json[\"']?[^>]*>(.*?)</script\s*>",
    re.IGNORECASE | re.DOTALL)
_BODY_KEYS = frozenset({"articlebody", "body", "content", "contents", "text", "html", "bodyhtml", "content_html",
                        "contenthtml", "bodytext", "content_elements", "blocks", "paragraphs", "elements"})
_TEXT_FIELDS = ("text", "content", "value", "html", "body")
_BLOCK_KINDS: dict[str, BlockKind] = {
    "paragraph": "paragraph", "text": "paragraph", "p": "paragraph", "core/paragraph": "paragraph",
    "heading": "heading", "header": "heading", "subheading": "heading", "intertitle": "heading",
    "h2": "heading", "h3": "heading", "core/heading": "heading",
    "quote": "quote", "blockquote": "quote", "pullquote": "quote", "core/quote": "quote",
    "list_item": "list_item", "listitem": "list_item", "list-item": "list_item", "li": "list_item",
}
_HTML_BLOCK = re.compile(r"<(p|h[1-6]|li|blockquote)\b[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
MIN_WORDS = 40  # a body in the data shorter than this is a summary, not the article
FULLER = 1.3  # the data's body replaces the markup's when it has at least this many times its words
MAX_DEPTH = 40


def fuller_body(page: str, shown: list[Candidate]) -> list[Candidate] | None:
    """The page's data body when it is fuller than `shown` (what the markup gave) and holds it; else None."""
    shown_words = sum(len(text.split()) for _, text in shown)
    best: list[Candidate] | None = None
    best_words = max(MIN_WORDS - 1, int(shown_words * FULLER))
    for body in _bodies(page):
        words = sum(len(text.split()) for _, text in body)
        if words > best_words and holds(body, shown):
            best, best_words = body, words
    if best is not None:
        log.debug("the page's data holds the fuller body (%d words, markup %d)", best_words, shown_words)
    return best


def _bodies(page: str) -> Iterator[list[Candidate]]:
    for match in _DATA_SCRIPT.finditer(page):
        try:
            raw = match.group(1)
            data = json.loads(html.unescape(raw) if "&quot;" in raw else raw, strict=False)  # CMSs leave raw newlines
        except (ValueError, RecursionError):
            continue
        for value in _body_values(data, 0):
            blocks = [(kind, text) for kind, text in _blocks(value) if judge_line(text).keep]
            if blocks:
                yield blocks


def _body_values(node: Any, depth: int) -> Iterator[Any]:
    """Values stored under a body-like key, anywhere in the data."""
    if depth > MAX_DEPTH:
        return
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        if isinstance(key, str) and key.casefold() in _BODY_KEYS and isinstance(value, (str, list)):
            yield value
        if isinstance(value, (dict, list)):
            yield from _body_values(value, depth + 1)


def _blocks(value: Any) -> list[Candidate]:
    if isinstance(value, str):
        return _string_blocks(value)
    return [block for item in value for block in _typed_block(item)]


def _string_blocks(value: str) -> list[Candidate]:
    """A body string: HTML (one block per <p>, <h2>, <li>, <blockquote>) or plain text (one per line)."""
    if _HTML_BLOCK.search(value):
        return [(_html_kind(tag), text) for tag, inner in _HTML_BLOCK.findall(value)
                if (text := clean_text(html.unescape(_TAG.sub(" ", inner))))]
    return [("paragraph", text) for line in value.split("\n") if (text := clean_text(line))]


def _html_kind(tag: str) -> BlockKind:
    tag = tag.casefold()
    return "heading" if tag.startswith("h") else "list_item" if tag == "li" else "quote" if tag == "blockquote" \
        else "paragraph"


def _typed_block(item: Any) -> list[Candidate]:
    """One element of a block list: {"type": "paragraph", "text": …}; images, ads and embeds give nothing."""
    if isinstance(item, str):
        return _string_blocks(item)
    if not isinstance(item, dict):
        return []
    kind_name = str(item.get("type") or item.get("blockName") or item.get("_type") or "paragraph").casefold()
    kind = _BLOCK_KINDS.get(kind_name)
    if kind is None:
        if kind_name in ("list", "core/list") and isinstance(item.get("items"), list):
            return [("list_item", text) for entry in item["items"] for _, text in _typed_block(entry)]
        return []
    for field in _TEXT_FIELDS:
        value = item.get(field)
        if isinstance(value, str) and (text := clean_text(html.unescape(_TAG.sub(" ", value)))):
            return [(kind, text)]
    return []


"""HTML pages: metadata, cleaning, title, standfirst, body, blocks — each step a function of its module."""

from __future__ import annotations

import logging
import re

from lxml import etree

from audio_edition.config import LimitsConfig
from audio_edition.errors import InputError, too_many_blocks
from audio_edition.extract import body, tree
from audio_edition.extract.consensus import second_opinion
from audio_edition.extract.embedded import fuller_body
from audio_edition.extract.lines import clean_text, finish_blocks, judge_line, paywall_notice
from audio_edition.extract.metadata import absolute_url, first_time, read_metadata
from audio_edition.models import Article, BlockKind, SourceDocument

log = logging.getLogger(__name__)

# libxml2's own default: no real article page comes close, and a deeper tree only makes every later step slower
# (100 000 nested <div> would hang a cron job), so a deeper page is refused at the parse.
MAX_NESTING_DEPTH = 256
# lxml refuses to set a string holding a control character (tab and newlines aside) or U+FFFE/U+FFFF, and the
# cleaning sets strings read from the page: those characters become a space (the whitespace ones) or go. (NUL is
# read as U+FFFD by the parser.) Looked for in the UTF-8 bytes first, where the search is cheap.
_CONTROL_BYTES = bytes([*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_NONCHARACTERS = ("\ufffe".encode(), "\uffff".encode())
_CONTROL_SPACE = re.compile("[\x0b\x0c\x1c-\x1f]")
_CONTROL_OTHER = re.compile("[\x01-\x08\x0e-\x1b\ufffe\uffff]")


def _markup(text: str) -> bytes:
    """The page as UTF-8 bytes (lxml refuses a str that carries an XML encoding declaration), settable."""
    data = text.encode("utf-8", "replace")
    if len(data.translate(None, _CONTROL_BYTES)) == len(data) and not any(n in data for n in _NONCHARACTERS):
        return data
    text = _CONTROL_OTHER.sub("", _CONTROL_SPACE.sub(" ", text))
    return text.encode("utf-8", "replace")


def parse(doc: SourceDocument) -> tree.Page:
    """The page's tree, parsed once; a page nested deeper than MAX_NESTING_DEPTH is refused."""
    parser = etree.HTMLParser(huge_tree=False, encoding="utf-8")  # libxml2 stops at the limit and logs why
    try:
        root = etree.fromstring(_markup(doc.text), parser=parser)
    except (etree.LxmlError, ValueError):
        root = None  # nothing libxml2 could read: an empty page, refused below for want of a title
    if any("depth" in error.message.lower() for error in parser.error_log):
        raise InputError(f"{doc.location}: markup nested more than {MAX_NESTING_DEPTH} levels deep",
                         "not a readable article page; save the article's own HTML or text")
    if root is None:
        root = etree.Element("html")
    return tree.Page(root)


def extract_html(doc: SourceDocument, max_blocks: int = LimitsConfig.max_blocks) -> Article:
    page = parse(doc)
    base = doc.url or (doc.location if doc.location.startswith(("http://", "https://")) else None)
    base_tag = next((t for t in page.root.iter("base") if t.get("href") is not None), None)
    if base_tag is not None:  # <base href> decides how the page's relative links resolve
        base = absolute_url(base_tag.get("href"), base) or base
    meta = read_metadata(page.root, base)
    published_time = first_time(page.root)  # read before the byline line holding it is dropped

    tree.drop_never_text(page)
    notice = paywall_notice(tree.text_of(page.root, " "))
    tree.mark_tts_only(page)
    tree.drop_publisher_skips(page)
    tree.drop_footnote_marks(page)
    tree.replace_brs(page)
    title_h1 = body.pick_title_h1(page, meta)
    title_before = clean_text(tree.text_of(title_h1, " ")) if title_h1 is not None else ""
    page_byline = body.dom_byline(page)
    marker = body.body_marker(page)
    protected = tree.protected_nodes(title_h1, marker, page)

    tree.drop_structural(page, protected)
    tree.drop_hidden(page, protected)
    tree.drop_noise_classes(page, protected)

    title = ""
    if title_h1 is not None and not page.is_dropped(title_h1):
        title = clean_text(tree.text_of(title_h1, " ").replace(tree.BR, " "))
    title = title or title_before.replace(tree.BR, " ").strip() or meta.title_fallback()
    if not title:
        raise InputError(f"no article title or text found in {doc.location}")

    standfirst = body.take_standfirst(page, title_h1)
    raw: list[tuple[BlockKind, str, bool]] = []
    roots, marked = body.find_body_root(page, marker)
    for root in roots:
        tree.mark_links(root, tree.site_of(meta.url or base or ""))
        body.walk(root, raw, "paragraph")
    if len(raw) > max_blocks:
        raise too_many_blocks(len(raw), max_blocks)

    candidates: list[tuple[BlockKind, str]] = []
    byline, translator = page_byline, None
    for kind, text, forced in raw:
        if forced:
            candidates.append((kind, text))
            continue
        verdict = judge_line(text)
        if verdict.keep:
            candidates.append((kind, text))
        else:
            byline = byline or verdict.byline
            translator = translator or verdict.translator
            log.debug("dropped %r (%s)", text[:60], verdict.why)
    if standfirst and not judge_line(standfirst).keep:
        standfirst = None
    forced_texts = {text for _, text, is_forced in raw if is_forced}
    # A fuller body in the page's data (JSON-LD, app state) is the article; else trafilatura's reading votes.
    candidates = fuller_body(doc.text, candidates) or second_opinion(candidates, doc, known=[title, standfirst or ""],
                                                                     keep=forced_texts, marked=marked)
    blocks = finish_blocks(candidates, title, standfirst)
    if not any(b.kind in ("paragraph", "quote", "list_item") for b in blocks):
        raise InputError(f"no article text found in {doc.location}")
    return Article(
        title=title,
        blocks=tuple(blocks),
        standfirst=standfirst,
        byline=byline or meta.author,
        translator=translator,
        published=meta.published or published_time,
        url=meta.url or doc.url,
        lang=meta.lang or "fr",
        image=meta.image,
        site_name=meta.site_name,
        declared_langs=meta.declared_langs,
        paywall_notice=notice,
        accessible_for_free=meta.accessible_for_free,
    )

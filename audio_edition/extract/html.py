"""HTML pages: metadata, cleaning, title, standfirst, body, blocks — each step a function of its module."""

from __future__ import annotations

import logging

from bs4 import BeautifulSoup, NavigableString

from ..errors import InputError
from ..models import Article, BlockKind, SourceDocument
from . import body, tree
from .consensus import second_opinion
from .embedded import fuller_body
from .lines import clean_text, finish_blocks, judge_line
from .metadata import absolute_url, first_time, read_metadata

log = logging.getLogger(__name__)

# libxml2's own default: no real article page comes close, and BeautifulSoup slows down quadratically with depth
# (100 000 nested <div> took minutes), so a deeper page is refused up front instead of hanging a cron job.
MAX_NESTING_DEPTH = 256


def _check_nesting(doc: SourceDocument) -> None:
    from lxml import etree

    # Bytes, not str: lxml refuses a str that carries an XML encoding declaration.
    parser = etree.HTMLParser(huge_tree=False, encoding="utf-8")  # libxml2 stops at the limit and logs why
    try:
        etree.fromstring(doc.text.encode("utf-8", "replace"), parser=parser)
    except (etree.LxmlError, ValueError):
        pass  # malformed markup is the tree builder's job; only the depth is checked here
    if any("depth" in error.message.lower() for error in parser.error_log):
        raise InputError(f"{doc.location}: markup nested more than {MAX_NESTING_DEPTH} levels deep",
                         "not a readable article page; save the article's own HTML or text")


def extract_html(doc: SourceDocument) -> Article:
    _check_nesting(doc)
    soup = BeautifulSoup(doc.text, "lxml")
    base = doc.url or (doc.location if doc.location.startswith(("http://", "https://")) else None)
    base_tag = soup.find("base", href=True)
    if base_tag:  # <base href> decides how the page's relative links resolve
        base = absolute_url(base_tag["href"], base) or base
    meta = read_metadata(soup, base)
    published_time = first_time(soup)  # read before the byline line holding it is dropped

    tree.drop_never_text(soup)
    tree.mark_tts_only(soup)
    tree.drop_publisher_skips(soup)
    for br in soup.find_all("br"):
        br.replace_with(NavigableString(tree.BR))
    title_h1 = body.pick_title_h1(soup, meta)
    title_before = clean_text(title_h1.get_text(" ")) if title_h1 else ""
    page_byline = body.dom_byline(soup)
    marker = body.body_marker(soup)
    protected = tree.protected_nodes(title_h1, marker, soup)

    tree.drop_structural(soup, protected)
    tree.drop_hidden(soup, protected)
    tree.drop_noise_classes(soup, protected)

    title = ""
    if title_h1 is not None and not getattr(title_h1, "decomposed", False):
        title = clean_text(title_h1.get_text(" ").replace(tree.BR, " "))
    title = title or title_before.replace(tree.BR, " ").strip() or meta.title_fallback()
    if not title:
        raise InputError(f"no article title or text found in {doc.location}")

    standfirst = body.take_standfirst(soup, title_h1)
    root = body.find_body_root(soup, marker)
    for link in root.find_all("a"):
        link.insert(0, NavigableString(tree.LINK_OPEN))
        link.append(NavigableString(tree.LINK_CLOSE))
    raw: list[tuple[BlockKind, str, bool]] = []
    body.walk(root, raw, "paragraph")

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
    forced = {text for _, text, is_forced in raw if is_forced}
    candidates = second_opinion(candidates, doc, known=[title, standfirst or ""], keep=forced)
    candidates = fuller_body(doc.text, candidates) or candidates
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
    )

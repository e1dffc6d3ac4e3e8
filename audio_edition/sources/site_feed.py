"""A news site's own RSS or Atom feed as a `build` source: each item becomes an article.

An item that carries the full text (content:encoded or Atom <content>) is read from the feed itself; otherwise the
article page is fetched by its link (through the source stage, with its limits) and extracted like any page.
Items already in the episode store (published or removed) are skipped by GUID *before* anything is fetched, so
running `build https://site/rss` every hour only builds what is new.

    doc = read_source(location, limits)
    if is_feed(doc):
        articles = articles_from_feed(doc, limits, out_dir=out_dir)   # new items only
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html

from audio_edition.config import LimitsConfig
from audio_edition.errors import InputError
from audio_edition.extract import extract_article
from audio_edition.models import Article, SourceDocument
from audio_edition.publish.publisher import article_guid_for_url, canonical_url
from audio_edition.publish.store import EpisodeStore, store_path
from audio_edition.sources.reader import read_source

log = logging.getLogger(__name__)

# The root element, after an optional BOM, XML declaration, comments, processing instructions and doctype.
_PROLOG = re.compile(r"^(?:\ufeff|\s|<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*", re.DOTALL | re.IGNORECASE)
_ROOT = re.compile(r"<(?:[\w.-]+:)?(rss|feed|RDF)[\s>/]")
# Words that say the feed's text stops before the article does.
_TRUNCATED = re.compile(r"(\[(?:…|\.\.\.)\]|…|\.\.\.|lire la suite|la suite|read more|continuer la lecture)\s*\W*$",
                        re.IGNORECASE)
FULL_TEXT_MIN_WORDS = 120  # below this, an item's content is a teaser: fetch the page


def is_feed(doc: SourceDocument) -> bool:
    """True when the document is an RSS (0.9x, 1.0/RDF, 2.0) or Atom feed rather than an article."""
    head = doc.text[:8192]
    prolog = _PROLOG.match(head)
    rest = head[prolog.end():] if prolog else head
    root = _ROOT.match(rest)
    if not root:
        return False
    if root.group(1) == "feed":  # <feed> is only Atom with the Atom namespace
        return "http://www.w3.org/2005/Atom" in rest[:2048]
    return True


def articles_from_feed(doc: SourceDocument, limits: LimitsConfig | None = None, *, out_dir: Path | None = None,
                       max_items: int | None = None, failures: list[tuple[str, InputError]] | None = None,
                       already_published: list[str] | None = None) -> list[Article]:
    """The articles of a site feed, in feed order; with `out_dir`, only those not already in its episode store
    (their links are added to `already_published` when given).

    One item that cannot be read (page gone, no text) is skipped with a warning, or added to `failures` (the item's
    link, the error) when the caller names them itself; a feed where no item can be read is an InputError.
    """
    limits = limits or LimitsConfig()
    # A stream, never a str: feedparser.parse("http://…") or a path would fetch or open it.
    parsed = feedparser.parse(io.BytesIO(doc.text.encode("utf-8")),
                              response_headers={"content-type": "application/xml; charset=utf-8",
                                                "content-location": doc.url or ""})
    if not parsed.entries:
        if parsed.bozo:
            raise InputError(f"{doc.location}: not a readable RSS/Atom feed ({parsed.bozo_exception})")
        raise InputError(f"{doc.location}: the feed has no items")
    site_name = _plain(parsed.feed.get("title", "")) or None
    seen_before = _published_checker(out_dir)

    articles: list[Article] = []
    skipped = failed = 0
    lines: list[str] = []
    errors: list[tuple[str, InputError]] = []

    seen_now: set[str] = set()
    for entry in parsed.entries[:max_items] if max_items else parsed.entries:
        link = _entry_link(entry, doc.url)
        if link and seen_before(link):
            skipped += 1
            if already_published is not None:
                already_published.append(link)
            continue
        if link and canonical_url(link) in seen_now:  # the same article twice in one feed
            continue
        if link:
            seen_now.add(canonical_url(link))
        try:
            articles.append(_entry_article(entry, link, site_name, limits, doc.location))
        except InputError as exc:
            failed += 1
            lines.append(f"feed item {link or entry.get('id', '?')} skipped: {exc.one_line()}")
            errors.append((f"feed item {link or entry.get('id', '?')}", exc))
    if skipped:
        log.info("%s: %d item(s) already published, skipped", doc.location, skipped)
    if failed and not articles and not skipped:
        # One line on stderr (the first reason), not a warning per item followed by the error.
        raise InputError(f"{doc.location}: none of the feed's {failed} item(s) could be read "
                         f"(first: {lines[0].removeprefix('feed item ')})")
    if failures is not None:
        failures.extend(errors)
        return articles
    for line in lines:  # some items were read: the others are worth a warning each
        log.warning("%s", line)
    return articles


def is_already_published(out_dir: Path, url: str) -> bool:
    """True when the article at `url` is in the store of `out_dir` (published or removed) — matched by its GUID."""
    return _published_checker(out_dir)(url)


def _published_checker(out_dir: Path | None) -> Callable[[str], bool]:
    if out_dir is None or not store_path(Path(out_dir)).is_file():
        return lambda _url: False
    with EpisodeStore(Path(out_dir), create=False) as store:
        done = {row.guid for row in store.all() if row.status in ("published", "removed")}
        done |= {article_guid_for_url(row.source_url) for row in store.all()
                 if row.status in ("published", "removed") and row.source_url}
    return lambda url: article_guid_for_url(url) in done


def _entry_link(entry, feed_url: str | None) -> str | None:
    for candidate in (entry.get("link"), entry.get("id")):
        if candidate:
            try:
                url = urljoin(feed_url or "", candidate.strip())
                parts = urlsplit(url)
                _ = parts.port  # raises ValueError for a bad port
            except ValueError:  # "https://[x", "http://h:99999": not a link we can follow
                continue
            if parts.scheme in ("http", "https"):
                return url
    return None


def _entry_article(entry, link: str | None, site_name: str | None, limits: LimitsConfig,
                   feed_location: str) -> Article:
    title = _plain(entry.get("title", ""))
    content = _full_content(entry)
    if content is not None:
        # A page around the item's HTML, shaped like an article so the extractor finds title and body.
        heading = escape(title)
        html = (f"<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>{heading}</title></head>"
                f"<body><article><h1>{heading}</h1>{content}</article></body></html>")
        article = extract_article(SourceDocument(text=html, kind="html", location=link or feed_location, url=link),
                                  limits.max_blocks)
    elif link:
        article = extract_article(read_source(link, limits), limits.max_blocks)
    else:
        raise InputError("the item has neither its full text nor a link to the article")

    summary = _plain(entry.get("summary", ""))
    standfirst = article.standfirst
    # The item's summary makes a standfirst when it is short and not just the body's opening words.
    if standfirst is None and summary and content is not None and len(summary) < 600 and \
            summary.rstrip("…. ").casefold() not in _plain(content).casefold():
        standfirst = summary
    return dataclasses.replace(
        article,
        title=title or article.title,
        standfirst=standfirst,
        # The item's own link is the article's identity, even when the page names another canonical URL: it is
        # what the next run of the feed sees, so the published item is recognised before any fetch.
        url=canonical_url(link) if link else article.url,
        published=article.published or _entry_date(entry),
        byline=article.byline or (f"Par {_plain(entry['author'])}" if entry.get("author") else None),
        image=article.image or _entry_image(entry),
        site_name=article.site_name or site_name,
    )


def _full_content(entry) -> str | None:
    """The item's HTML when it is the whole article, else None (a teaser: the page must be fetched)."""
    best = max((c.get("value", "") for c in entry.get("content", [])), key=len, default="")
    text = _plain(best)
    if len(text.split()) < FULL_TEXT_MIN_WORDS or _TRUNCATED.search(text):
        return None
    return best


def _entry_date(entry) -> str | None:
    for key in ("published_parsed", "updated_parsed"):
        moment: time.struct_time | None = entry.get(key)
        if moment:
            return datetime(*moment[:6], tzinfo=timezone.utc).isoformat()
    return None


def _entry_image(entry) -> str | None:
    for media in (*entry.get("media_content", []), *entry.get("media_thumbnail", [])):
        url = media.get("url")
        if url and (media.get("medium") in (None, "image") or str(media.get("type", "")).startswith("image/")):
            return url
    for enclosure in entry.get("enclosures", []):
        if str(enclosure.get("type", "")).startswith("image/") and enclosure.get("href"):
            return enclosure["href"]
    return None


def _plain(html: str) -> str:
    """Text of a possibly-HTML string, whitespace folded."""
    if "<" not in html and "&" not in html:
        return " ".join(html.split())
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):  # nothing parseable: the text as it is
        return " ".join(html.split())
    return " ".join(" ".join(root.itertext()).split())

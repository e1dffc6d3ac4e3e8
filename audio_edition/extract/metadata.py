"""What the page says about itself: JSON-LD, Open Graph, <meta>, canonical link, language, dates."""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse, urlsplit

from lxml import etree

from audio_edition.extract import rules
from audio_edition.extract.lines import clean_text, words
from audio_edition.extract.tree import Element, attr_words

log = logging.getLogger(__name__)
_ARTICLE_TYPES = {"newsarticle", "article", "reportagenewsarticle", "analysisnewsarticle", "blogposting",
                  "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "liveblogposting",
                  "scholarlyarticle", "report", "techarticle", "webpage"}


@dataclass
class PageMeta:
    og_title: str | None = None
    headline: str | None = None
    html_title: str | None = None
    site_name: str | None = None
    author: str | None = None
    published: str | None = None
    url: str | None = None
    lang: str | None = None
    image: str | None = None
    article_body: str | None = None
    declared_langs: tuple[str, ...] = ()  # every language the page declares, in the order above
    accessible_for_free: bool | None = None  # JSON-LD isAccessibleForFree

    def host(self) -> str | None:
        return urlparse(self.url).hostname if self.url else None

    def headlines(self) -> list[str]:
        return [t for t in (self.headline, self.og_title, self.html_title) if t]

    def title_fallback(self) -> str:
        for candidate in (self.og_title, self.headline):
            if candidate:
                return strip_site_name(candidate, self.site_name, split_unknown=False, host=self.host())
        if self.html_title:
            return strip_site_name(self.html_title, self.site_name, host=self.host())
        return ""


def meta_table(root: Element) -> dict[str, str]:
    """Every <meta> content by its property / name / itemprop / http-equiv (lower-cased), first one wins."""
    table: dict[str, str] = {}
    for tag in root.iter("meta"):
        content = tag.get("content")
        if content is None or not content.strip():
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = tag.get(attr, "").strip().lower()
            if key:
                table.setdefault(key, clean_text(content))
    return table


def meta_content(table: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        if key.lower() in table:
            return table[key.lower()]
    return None


def json_ld_articles(root: Element) -> list[dict]:
    found: list[dict] = []

    def visit(node) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            types = node.get("@type", [])
            types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
            if any(str(t).casefold() in _ARTICLE_TYPES for t in types):
                found.append(node)
            for key in ("@graph", "mainEntity", "itemListElement"):
                if key in node:
                    visit(node[key])

    ld_json = re.compile("ld\\+json", re.IGNORECASE)
    for script in root.iter("script"):
        if not ld_json.search(script.get("type", "")):
            continue
        try:
            visit(json.loads(_only_string(script) or "", strict=False))
        except (ValueError, TypeError):
            log.debug("unreadable JSON-LD skipped")
    # A NewsArticle beats a WebPage.
    found.sort(key=lambda n: str(n.get("@type", "")).casefold() == "webpage")
    return found


def ld_text(value) -> str | None:
    if isinstance(value, str):
        return clean_text(value) or None
    if isinstance(value, dict):
        return ld_text(value.get("name") or value.get("url") or value.get("@id"))
    if isinstance(value, list):
        parts = [p for p in (ld_text(v) for v in value) if p]
        return " et ".join(parts) if parts else None
    return None


def _only_string(tag: Element) -> str | None:
    """The element's text when it is its only content (BeautifulSoup's `.string`)."""
    return tag.text if len(tag) == 0 else None


def read_metadata(root: Element, base: str | None) -> PageMeta:
    meta = PageMeta()
    table = meta_table(root)
    ld = json_ld_articles(root)
    article_ld = ld[0] if ld else {}
    meta.og_title = meta_content(table, "og:title", "twitter:title")
    body = article_ld.get("articleBody")
    meta.article_body = body if isinstance(body, str) and len(body) > 200 else None
    meta.headline = ld_text(article_ld.get("headline")) or ld_text(article_ld.get("name"))
    title = next(root.iter("title"), None)
    title_text = _only_string(title) if title is not None else None
    if title_text:
        meta.html_title = clean_text(title_text)
    publisher = article_ld.get("publisher")
    meta.site_name = (meta_content(table, "og:site_name", "application-name")
                      or (ld_text(publisher) if publisher else None))
    author = ld_text(article_ld.get("author")) or meta_content(table, "author", "article:author", "dc.creator")
    if author and not author.startswith(("http://", "https://")):
        meta.author = author if re.match(r"(?i)^par\b", author) else f"Par {author}"
    meta.published = (ld_text(article_ld.get("datePublished"))
                      or meta_content(table, "article:published_time", "datePublished", "date", "pubdate",
                                       "publishdate", "dc.date.issued", "dc.date", "dcterms.created",
                                       "parsely-pub-date", "sailthru.date"))
    canonical = next((t for t in root.iter("link") if "canonical" in attr_words(t, "rel")), None)
    url = (canonical.get("href") if canonical is not None else None) or meta_content(table, "og:url") \
        or ld_text(article_ld.get("url")) or ld_text(article_ld.get("mainEntityOfPage"))
    meta.url = absolute_url(url, base)
    image = meta_content(table, "og:image", "og:image:url", "twitter:image") or ld_text(article_ld.get("image"))
    meta.image = absolute_url(image, base)
    html = next(root.iter("html"), None)
    declared = [(html.get("lang") or html.get("xml:lang")) if html is not None else None,
                meta_content(table, "og:locale"), meta_content(table, "content-language", "language"),
                ld_text(article_ld.get("inLanguage"))]
    meta.declared_langs = tuple(_language_tag(lang) for lang in declared if lang and lang.strip())
    meta.lang = meta.declared_langs[0] if meta.declared_langs else None
    free = article_ld.get("isAccessibleForFree")
    if isinstance(free, str) and free.strip().lower() in ("true", "false"):
        free = free.strip().lower() == "true"
    meta.accessible_for_free = free if isinstance(free, bool) else None
    return meta


def _language_tag(lang: str) -> str:
    """'fr_FR' -> 'fr-FR', 'EN' -> 'en'."""
    primary, _, region = lang.strip().replace("_", "-").partition("-")
    return primary.lower() + (f"-{region.upper()}" if region else "")


def absolute_url(url: str | None, base: str | None) -> str | None:
    """`url` resolved against `base`; None when either is not a URL at all ("https://[x", "http://h:99999")."""
    if not url:
        return None
    url = url.strip()
    try:
        if base:
            url = urljoin(base, url)
        _ = urlsplit(url).port  # raises ValueError for a bad host or port, as the store would later
    except ValueError:
        log.debug("unusable URL %r ignored", url)
        return None
    return url


def strip_site_name(title: str, site_name: str | None, split_unknown: bool = True, host: str | None = None) -> str:
    """ "Le titre - Le Site" -> "Le titre"; the rest of the title is kept exactly as written."""
    title = clean_text(title)
    sep = rules.TITLE_SEPARATORS.pattern
    if site_name:
        name = re.escape(clean_text(site_name))
        stripped = re.sub(rf"^{name}(?:{sep})|(?:{sep}){name}$", "", title, flags=re.IGNORECASE).strip()
        if stripped and stripped != title:
            return stripped
    parts = rules.TITLE_SEPARATORS.split(title)
    if host and len(parts) >= 2:
        # A first or last part that spells the site's domain ("Le Figaro" for lefigaro.fr) is the site name.
        squash = re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", host.lower()).encode("ascii", "ignore").decode())
        def is_site(part: str) -> bool:
            key = re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", part.lower()).encode("ascii", "ignore").decode())
            return len(key) >= 3 and key in squash
        if is_site(parts[-1]):
            return title[: title.rfind(parts[-1])].rstrip(" |–—·»-:").strip()
        if is_site(parts[0]):
            return title[len(parts[0]):].lstrip(" |–—·»-:").strip()
    if not split_unknown:
        return title
    if len(parts) == 2:
        # The shorter side of one separator is the site name ("Titre | Le Site", "Le Site - Titre").
        first, last = parts
        return first.strip() if words(last) <= words(first) else last.strip()
    if len(parts) > 2:
        return max(parts, key=len).strip()
    return title


_DATE_PUBLISHED = etree.XPath("descendant-or-self::*[@itemprop='datePublished'][1]")


def first_time(root: Element) -> str | None:
    marked = next(iter(_DATE_PUBLISHED(root)), None)
    if marked is not None and (marked.get("datetime") or marked.get("content")):
        return str(marked.get("datetime") or marked.get("content")).strip()
    for time in root.iter("time"):
        if time.get("datetime"):
            return time.get("datetime", "").strip()
    return None

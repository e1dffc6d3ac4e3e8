"""Extract stage: turn a SourceDocument into an Article holding only what a listener should hear.

HTML goes through BeautifulSoup + lxml in small steps, each one a function:
  read metadata -> drop what is never text -> apply publisher overrides -> pick the title <h1> ->
  drop hidden elements and page furniture (by tag, role and class) -> take the standfirst out ->
  find the article body -> walk it into blocks -> drop furniture lines (by text) -> deduplicate.
Plain-text scrapes go through the same line rules. The rules themselves are data, in `extract_rules.py`.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse, urlsplit

from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, ProcessingInstruction, Tag

from . import extract_rules as rules
from .errors import InputError
from .models import Article, Block, BlockKind, SourceDocument

log = logging.getLogger(__name__)

_BR = "\u2028"  # stands for <br> while walking: two in a row split a paragraph, one is a space
_TTS_ONLY = "data-ae-tts-only"
_LINK_OPEN, _LINK_CLOSE = "\u2063", "\u2064"  # invisible marks around link text while walking
_ARTICLE_TYPES = {"newsarticle", "article", "reportagenewsarticle", "analysisnewsarticle", "blogposting",
                  "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "liveblogposting",
                  "scholarlyarticle", "report", "techarticle", "webpage"}


# --- text helpers ---------------------------------------------------------------------------------------------
def clean_text(text: str) -> str:
    """Collapse whitespace, keeping French non-breaking spaces (the script stage reads them)."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad\u2063\u2064]", "", text)  # zero-width and soft hyphens

    def squeeze(match: re.Match) -> str:
        run = match.group(0)
        for nbsp in ("\u202f", "\u00a0"):
            if nbsp in run:
                return nbsp
        return " "

    return re.sub(r"[\s\u00a0\u202f]+", squeeze, text).strip()


def fold(text: str) -> str:
    """Comparison form: case-folded, whitespace folded, typographic quotes made plain."""
    text = text.replace("’", "'").replace("‘", "'").replace("«", '"').replace("»", '"')
    return " ".join(text.split()).casefold()


def _words(text: str) -> int:
    return len(text.split())


# --- line rules (shared by HTML and plain text) --------------------------------------------------------------
@dataclass(frozen=True)
class LineVerdict:
    keep: bool
    byline: str | None = None
    translator: str | None = None
    why: str = ""


def judge_line(text: str) -> LineVerdict:
    """Decide whether one block of text is article text or page furniture (caption, widget label, credit...)."""
    line = clean_text(text)
    if not line:
        return LineVerdict(False, why="empty")
    plain = line.strip(" .:;,|>»«\"'")
    if len(line) <= 300:
        if _words(line) <= 16 and rules.BYLINE.match(line.rstrip(".")):
            return LineVerdict(False, byline=tidy_byline(line), why="byline")
        if _words(line) <= 16 and rules.TRANSLATOR.match(line.rstrip(".")):
            return LineVerdict(False, translator=line.rstrip("."), why="translator")
        for pattern in rules.FURNITURE_LINES:
            if pattern.fullmatch(line) or (plain and pattern.fullmatch(plain)):
                return LineVerdict(False, why=f"furniture: {pattern.pattern[:30]}")
    labels = [p.strip() for p in re.split(r"\s[|•·]\s", line)]
    if len(labels) > 1 and all(not judge_line(p).keep for p in labels if p):
        return LineVerdict(False, why="row of widget labels")
    if rules.TEASER_PREFIX.match(line):
        return LineVerdict(False, why="teaser")
    if rules.CAPTION_OPENERS.match(line):
        return LineVerdict(False, why="caption")
    if _is_captioned_credit(line):
        return LineVerdict(False, why="caption with credit")
    return LineVerdict(True)


def tidy_byline(text: str) -> str:
    """ "Par Julie Marceau - franceinfo | le 12/03" -> "Par Julie Marceau"."""
    text = re.split(r"\s[|•·–-]\s|,?\s(?:publié|mis à jour|le \d)", text, maxsplit=1, flags=re.IGNORECASE)[0]
    text = text.strip(" ,.")
    return text[:1].upper() + text[1:]


def _is_captioned_credit(line: str) -> bool:
    """A caption whose photo credit is glued to its last word ("... de la Russie.GETTY") or trails it."""
    glued = rules.GLUED_CREDIT.search(line)
    if glued:
        credit = glued.group("credit").strip()
        letters = [c for c in credit if c.isalpha()]
        mostly_upper = letters and sum(c.isupper() for c in letters) / len(letters) > 0.6
        agency = any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", credit, re.IGNORECASE) for a in rules.CREDIT_AGENCIES)
        if _words(credit) <= 12 and (mostly_upper or agency):
            return True
    if len(line) < 400 and rules.TRAILING_CREDIT.search(line):
        return True
    return False


# --- entry point ----------------------------------------------------------------------------------------------
def extract_article(doc: SourceDocument) -> Article:
    """Extract the article from a decoded document (HTML page or plain-text scrape)."""
    if doc.kind == "text":
        return _extract_text(doc)
    return _extract_html(doc)


# --- plain-text scrapes ---------------------------------------------------------------------------------------
def _text_paragraphs(text: str) -> list[str]:
    """Paragraphs of a scrape: one per line, except hard-wrapped blocks (lines of 40-100 characters) and
    lines that continue a sentence (no end punctuation, next starts lower-case), which are joined."""
    out: list[str] = []
    for group in re.split(r"\n[ \t\u00a0]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [clean_text(line) for line in group.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue
        wrapped = (len(lines) >= 2 and all(40 <= len(line) <= 100 for line in lines[:-1])
                   and all(_words(line) >= 2 and judge_line(line).keep for line in lines)
                   and len({fold(line) for line in lines}) == len(lines))
        if wrapped:
            out.append(" ".join(lines))
            continue
        for i, line in enumerate(lines):
            if i and not re.search(r"[.!?:;»”\"…)]$", out[-1]) and line[:1].islower():
                out[-1] = f"{out[-1]} {line}"
            else:
                out.append(line)
    return out


def _is_site_name(line: str) -> bool:
    return _words(line) <= 3 and line.upper() == line and not re.search(r"[.!?]$", line)


def _text_title(top: list[str]) -> str:
    """A scrape's title: the line repeated near the top (scrapes repeat it), else the first real line."""
    keys = [fold(line) for line in top]
    for line, key in zip(top, keys):
        if keys.count(key) > 1 and _words(line) >= 3:
            return line.rstrip(".")
    for line in top:
        if not _is_site_name(line):
            return line.rstrip(".")
    return top[0].rstrip(".") if top else ""


def _extract_text(doc: SourceDocument) -> Article:
    lines = _text_paragraphs(doc.text)
    title = ""
    candidates: list[tuple[BlockKind, str]] = []
    byline = translator = None
    title = _text_title([line for line in lines[:12] if judge_line(line).keep])
    for line in lines:
        verdict = judge_line(line)
        if not verdict.keep:
            byline = byline or verdict.byline
            translator = translator or verdict.translator
            log.debug("dropped %r (%s)", line[:60], verdict.why)
            continue
        if fold(line.rstrip(".")) == fold(title) or (not candidates and _is_site_name(line)):
            continue
        # A short line without end punctuation between paragraphs is an intertitle.
        kind: BlockKind = "heading" if len(line) < 100 and not re.search(r"[.!?:;»”\"…,]$", line) else "paragraph"
        candidates.append((kind, line))
    if not title:
        raise InputError(f"no article text found in {doc.location}")
    blocks = _finish_blocks(candidates, title, None)
    if not any(b.kind == "paragraph" for b in blocks):
        raise InputError(f"no article text found in {doc.location}")
    return Article(title=title, blocks=tuple(blocks), byline=byline, translator=translator, lang="fr",
                   url=doc.url)


# --- HTML -----------------------------------------------------------------------------------------------------
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


def _extract_html(doc: SourceDocument) -> Article:
    _check_nesting(doc)
    soup = BeautifulSoup(doc.text, "lxml")
    base = doc.url or (doc.location if doc.location.startswith(("http://", "https://")) else None)
    base_tag = soup.find("base", href=True)
    if base_tag:  # <base href> decides how the page's relative links resolve
        base = _absolute(base_tag["href"], base) or base
    meta = _read_metadata(soup, base)
    published_time = _first_time(soup)  # read before the byline line holding it is dropped

    _drop_never_text(soup)
    _mark_tts_only(soup)
    _drop_publisher_skips(soup)
    for br in soup.find_all("br"):
        br.replace_with(NavigableString(_BR))
    title_h1 = _pick_title_h1(soup, meta)
    title_before = clean_text(title_h1.get_text(" ")) if title_h1 else ""
    dom_byline = _dom_byline(soup)
    body_marker = _body_marker(soup)
    protected = _protected_nodes(title_h1, body_marker, soup)

    _drop_structural(soup, protected)
    _drop_hidden(soup, protected)
    _drop_noise_classes(soup, protected)

    title = ""
    if title_h1 is not None and not getattr(title_h1, "decomposed", False):
        title = clean_text(title_h1.get_text(" ").replace(_BR, " "))
    title = title or title_before.replace(_BR, " ").strip() or meta.title_fallback()
    if not title:
        raise InputError(f"no article title or text found in {doc.location}")

    standfirst = _take_standfirst(soup, title_h1)
    root = _find_body_root(soup, body_marker)
    for link in root.find_all("a"):
        link.insert(0, NavigableString(_LINK_OPEN))
        link.append(NavigableString(_LINK_CLOSE))
    raw: list[tuple[BlockKind, str, bool]] = []
    _walk(root, raw, "paragraph")

    candidates: list[tuple[BlockKind, str]] = []
    byline, translator = dom_byline, None
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
    blocks = _finish_blocks(candidates, title, standfirst)
    if not any(b.kind in ("paragraph", "quote", "list_item") for b in blocks) and meta.article_body:
        # Pages rendered by JavaScript often carry the text only in their JSON-LD.
        lines = [(k, t) for k, t in (("paragraph", clean_text(x)) for x in meta.article_body.split("\n")) if t]
        blocks = _finish_blocks([(k, t) for k, t in lines if judge_line(t).keep], title, standfirst)
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


# --- metadata -------------------------------------------------------------------------------------------------
@dataclass
class _Meta:
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

    def host(self) -> str | None:
        return urlparse(self.url).hostname if self.url else None

    def headlines(self) -> list[str]:
        return [t for t in (self.headline, self.og_title, self.html_title) if t]

    def title_fallback(self) -> str:
        for candidate in (self.og_title, self.headline):
            if candidate:
                return _strip_site_name(candidate, self.site_name, split_unknown=False, host=self.host())
        if self.html_title:
            return _strip_site_name(self.html_title, self.site_name, host=self.host())
        return ""


def _meta_content(soup: BeautifulSoup, *keys: str) -> str | None:
    table = getattr(soup, "_ae_meta", None)
    if table is None:
        table = {}
        for tag in soup.find_all("meta", content=True):
            for attr in ("property", "name", "itemprop", "http-equiv"):
                key = str(tag.get(attr, "")).strip().lower()
                if key and str(tag["content"]).strip():
                    table.setdefault(key, clean_text(str(tag["content"])))
        soup._ae_meta = table
    for key in keys:
        if key.lower() in table:
            return table[key.lower()]
    return None


def _json_ld_articles(soup: BeautifulSoup) -> list[dict]:
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

    for script in soup.find_all("script", attrs={"type": re.compile("ld\\+json", re.IGNORECASE)}):
        try:
            visit(json.loads(script.string or "", strict=False))
        except (ValueError, TypeError):
            log.debug("unreadable JSON-LD skipped")
    # A NewsArticle beats a WebPage.
    found.sort(key=lambda n: str(n.get("@type", "")).casefold() == "webpage")
    return found


def _ld_text(value) -> str | None:
    if isinstance(value, str):
        return clean_text(value) or None
    if isinstance(value, dict):
        return _ld_text(value.get("name") or value.get("url") or value.get("@id"))
    if isinstance(value, list):
        parts = [p for p in (_ld_text(v) for v in value) if p]
        return " et ".join(parts) if parts else None
    return None


def _read_metadata(soup: BeautifulSoup, base: str | None) -> _Meta:
    meta = _Meta()
    ld = _json_ld_articles(soup)
    article_ld = ld[0] if ld else {}
    meta.og_title = _meta_content(soup, "og:title", "twitter:title")
    body = article_ld.get("articleBody")
    meta.article_body = body if isinstance(body, str) and len(body) > 200 else None
    meta.headline = _ld_text(article_ld.get("headline")) or _ld_text(article_ld.get("name"))
    if soup.title and soup.title.string:
        meta.html_title = clean_text(soup.title.string)
    publisher = article_ld.get("publisher")
    meta.site_name = (_meta_content(soup, "og:site_name", "application-name")
                      or (_ld_text(publisher) if publisher else None))
    author = _ld_text(article_ld.get("author")) or _meta_content(soup, "author", "article:author", "dc.creator")
    if author and not author.startswith(("http://", "https://")):
        meta.author = author if re.match(r"(?i)^par\b", author) else f"Par {author}"
    meta.published = (_ld_text(article_ld.get("datePublished"))
                      or _meta_content(soup, "article:published_time", "datePublished", "date", "pubdate",
                                       "publishdate", "dc.date.issued", "dc.date", "dcterms.created",
                                       "parsely-pub-date", "sailthru.date"))
    canonical = soup.find("link", rel=lambda v: v and "canonical" in (v if isinstance(v, list) else [v]))
    url = (canonical.get("href") if canonical else None) or _meta_content(soup, "og:url") \
        or _ld_text(article_ld.get("url")) or _ld_text(article_ld.get("mainEntityOfPage"))
    meta.url = _absolute(url, base)
    image = _meta_content(soup, "og:image", "og:image:url", "twitter:image") or _ld_text(article_ld.get("image"))
    meta.image = _absolute(image, base)
    html = soup.find("html")
    lang = (html.get("lang") or html.get("xml:lang")) if html else None
    lang = lang or _meta_content(soup, "og:locale", "content-language", "language") \
        or _ld_text(article_ld.get("inLanguage"))
    if lang:
        lang = lang.strip().replace("_", "-")
        primary, _, region = lang.partition("-")
        meta.lang = primary.lower() + (f"-{region.upper()}" if region else "")
    return meta


def _absolute(url: str | None, base: str | None) -> str | None:
    """`url` resolved against `base`; None when either is not a URL at all ("https://[x", "http://h:99999")."""
    if not url:
        return None
    url = url.strip()
    try:
        if base:
            url = urljoin(base, url)
        urlsplit(url).port  # raises ValueError for a bad host or port, as the store would later
    except ValueError:
        log.debug("unusable URL %r ignored", url)
        return None
    return url


def _strip_site_name(title: str, site_name: str | None, split_unknown: bool = True, host: str | None = None) -> str:
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
        return first.strip() if _words(last) <= _words(first) else last.strip()
    if len(parts) > 2:
        return max(parts, key=len).strip()
    return title


def _first_time(soup: BeautifulSoup) -> str | None:
    marked = soup.find(attrs={"itemprop": "datePublished"})
    if marked is not None and (marked.get("datetime") or marked.get("content")):
        return str(marked.get("datetime") or marked.get("content")).strip()
    for time in soup.find_all("time"):
        if time.get("datetime"):
            return time["datetime"].strip()
    return None


# --- cleaning the tree ----------------------------------------------------------------------------------------
def _classes(tag: Tag) -> list[str]:
    value = tag.get("class") or []
    names = value if isinstance(value, list) else str(value).split()
    ident = tag.get("id")
    if ident:
        names = [*names, str(ident)]
    return [n.lower() for n in names]


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[\s_\-]+|--", spaced.lower()) if t]


def _is_hidden_class(tag: Tag) -> bool:
    return any(name in rules.HIDDEN_CLASSES for name in _classes(tag))


def _in_running_text(tag: Tag) -> bool:
    """An inline element inside a sentence ("<a class='tag'>Emmanuel Macron</a> a dit ...") is part of it."""
    if tag.name not in rules.INLINE_TAGS:
        return False
    block = tag.find_parent(lambda t: t.name in rules.BLOCK_TAGS)
    if block is None:
        return False
    own = len(tag.get_text(strip=True))
    around = len(block.get_text(strip=True)) - own
    return around > max(20, own // 2)


def _is_noise_class(tag: Tag) -> bool:
    for name in _classes(tag):
        if name in rules.CONTENT_TOKENS:
            return False
    for name in _classes(tag):
        if name in rules.NOISE_TOKENS or name in rules.NOISE_CLASSES or any(s in name for s in rules.NOISE_SUBSTRINGS):
            return True
        if any(t in rules.NOISE_TOKENS for t in _tokens(name)):
            return True
    return False


def _drop_never_text(soup: BeautifulSoup) -> None:
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


def _mark_tts_only(soup: BeautifulSoup) -> None:
    """`data-tts="only"`: text for the ear only; it survives the hidden and furniture rules."""
    for tag in soup.find_all(attrs={"data-tts": re.compile(r"^\s*only\s*$", re.IGNORECASE)}):
        tag[_TTS_ONLY] = "1"


def _drop_publisher_skips(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(lambda t: str(t.get("data-tts", "")).strip().lower() == "skip"
                             or "tts-skip" in _classes(t)):
        if not tag.decomposed:
            tag.decompose()


def _forced(tag: Tag) -> bool:
    return tag.has_attr(_TTS_ONLY)


def _protected_nodes(title_h1: Tag | None, body_marker: Tag | None, soup: BeautifulSoup) -> set[int]:
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
    weights = _paragraph_weights(soup)
    total = weights.get(id(soup), 0.0)
    if total > 0:
        for tag in soup.find_all(True):
            weight = weights.get(id(tag), 0.0)
            if weight >= 0.6 * total and id(tag) not in keep and _is_noise_class(tag):
                keep.add(id(tag))
    return keep


def _drop_structural(soup: BeautifulSoup, protected: set[int]) -> None:
    for tag in soup.find_all(list(rules.DROP_TAGS) + ["header"]):
        if tag.decomposed or _forced(tag):
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
        if tag.decomposed or _forced(tag) or id(tag) in protected:
            continue
        if str(tag.get("role")).strip().lower() in rules.DROP_ROLES:
            tag.decompose()
    for tag in soup.find_all(attrs={"itemprop": True}):
        if tag.decomposed or _forced(tag) or id(tag) in protected:
            continue
        if set(str(tag.get("itemprop")).split()) & rules.DROP_ITEMPROPS and not _in_running_text(tag):
            tag.decompose()


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden") or _is_hidden_class(tag):
        return True
    if str(tag.get("aria-hidden", "")).strip().lower() == "true":
        return True
    style = tag.get("style")
    return bool(style and rules.HIDDEN_STYLE.search(str(style)))


def _drop_hidden(soup: BeautifulSoup, protected: set[int]) -> None:
    for tag in soup.find_all(_is_hidden):
        if not tag.decomposed and not _forced(tag) and id(tag) not in protected:
            tag.decompose()


def _drop_noise_classes(soup: BeautifulSoup, protected: set[int]) -> None:
    holds_forced = {id(parent) for tag in soup.find_all(attrs={_TTS_ONLY: True}) for parent in tag.parents}
    for tag in soup.find_all(True):
        if tag.decomposed or _forced(tag) or id(tag) in protected or tag.name in ("html", "body"):
            continue
        if id(tag) in holds_forced:
            continue
        if _is_noise_class(tag) and not _in_running_text(tag):
            tag.decompose()


# --- title, byline, standfirst --------------------------------------------------------------------------------
def _pick_title_h1(soup: BeautifulSoup, meta: _Meta) -> Tag | None:
    """The article's <h1>: not the site logo, preferably the one matching the page's declared headline."""
    best, best_score = None, -1.0
    headlines = [fold(_strip_site_name(h, meta.site_name)) for h in meta.headlines()]
    for h1 in soup.find_all("h1"):
        text = fold(h1.get_text(" ").replace(_BR, " "))
        if len(text) < 3:
            continue
        score = 0.0
        if any(text == h or (len(text) > 15 and (text in h or h in text)) for h in headlines):
            score += 4
        if h1.find_parent(["article", "main"]) or h1.find_parent(attrs={"role": "main"}):
            score += 2
        if "headline" in str(h1.get("itemprop", "")):
            score += 4
        names = " ".join(_classes(h1) + [n for p in h1.parents if isinstance(p, Tag) for n in _classes(p)][:6])
        if re.search(r"site|logo|brand|masthead", names):
            score -= 5
        if site := meta.site_name:
            if text == fold(site):
                score -= 5
        if _is_hidden(h1):
            score -= 3
        score += min(len(text), 120) / 120  # a headline is a sentence, a logo a word or two
        if score > best_score:
            best, best_score = h1, score
    return best if best is not None and best_score >= 0.2 else None


def _dom_byline(soup: BeautifulSoup) -> str | None:
    candidates = soup.find_all(attrs={"rel": "author"}) + soup.find_all(attrs={"itemprop": "author"})
    candidates += soup.find_all(lambda t: any(tok in ("byline", "author", "auteur", "signature")
                                              for n in _classes(t) for tok in _tokens(n)))
    ids = {id(t) for t in candidates}
    # The innermost element is the name; wrappers ("date-author") add dates and labels.
    candidates = [t for t in candidates if not any(id(d) in ids for d in t.find_all(True))]
    if not candidates:
        # No byline markup: a short "Par Marc Olivier | le 02/10/2024" line anywhere before cleaning.
        starts = soup.find_all(string=re.compile(r"^\s*(Par|By|PAR)\b"))
        for tag in (s.parent for s in starts if isinstance(s.parent, Tag)):
            text = clean_text(tag.get_text(" ").replace(_BR, " "))
            if _words(text) <= 20:
                head = tidy_byline(text)
                if rules.BYLINE.match(head):
                    return head
    for tag in candidates:
        text = clean_text(tag.get_text(" ").replace(_BR, " "))
        text = tidy_byline(text)
        if 3 <= len(text) <= 120 and not text.lower().startswith(("http", "©")):
            if re.match(r"(?i)^(par|by)\b", text) or rules.BYLINE.match(text):
                return text
            return f"Par {text}"
    return None


def _take_standfirst(soup: BeautifulSoup, title_h1: Tag | None) -> str | None:
    """The chapô: a class or itemprop says so; it is taken out of the body so that it is read once."""
    def is_standfirst(tag: Tag) -> bool:
        if tag.name in ("html", "body", "article", "main", "section", "img", "a"):
            return False
        if "description" in str(tag.get("itemprop", "")) or "alternativeHeadline" in str(tag.get("itemprop", "")):
            return True
        return any(rules.STANDFIRST_PATTERN.search(n) for n in _classes(tag))

    found = soup.find_all(is_standfirst)
    if title_h1 is not None and not title_h1.decomposed:
        # A long sentence in the heading right after the title is a standfirst, whatever its class.
        following = title_h1.find_next_sibling(True)
        if following is not None and following.name in ("h2", "h3", "p") and following not in found:
            text = clean_text(following.get_text(" ").replace(_BR, " "))
            if following.name != "p" and len(text) >= 70 and re.search(r"[.!?…»]$", text):
                found.insert(0, following)
    order = {id(t): i for i, t in enumerate(soup.find_all(True))}
    first_long = next((order[id(p)] for p in soup.find_all("p") if len(p.get_text(strip=True)) > 150), None)
    for tag in found:
        if tag.decomposed:
            continue
        if first_long is not None and order.get(id(tag), 0) > first_long and not tag.find("p", recursive=True):
            continue  # a "description" after the body has started is not the standfirst
        text = clean_text(tag.get_text(" ").replace(_BR, " "))
        if 30 <= len(text) <= 700 and len(tag.find_all("p")) <= 2 and not tag.find(["h2", "h3", "ul", "ol"]):
            tag.decompose()
            return text
    return None


# --- finding the body -----------------------------------------------------------------------------------------
def _link_density(tag: Tag) -> float:
    text = len(tag.get_text().strip())
    if not text:
        return 0.0
    links = sum(len(a.get_text().strip()) for a in tag.find_all("a"))
    return min(1.0, links / text)


def _paragraph_weights(root: Tag) -> dict[int, float]:
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
            own = len("".join(tag.find_all(string=True, recursive=False)).replace(_BR, " ").strip())
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


def _body_marker(soup: BeautifulSoup) -> Tag | None:
    """An element the publisher marked as the article body (schema.org articleBody or a body class)."""
    marked = soup.find_all(attrs={"itemprop": "articleBody"})
    marked += soup.find_all(lambda t: any(n in rules.CONTENT_TOKENS for n in _classes(t)))
    if not marked:
        return None
    weights = _paragraph_weights(soup)
    return max(marked, key=lambda t: weights.get(id(t), 0.0))


def _find_body_root(soup: BeautifulSoup, marker: Tag | None) -> Tag:
    """The smallest element holding nearly all of the page's paragraph text."""
    body = soup.body or soup
    weights = _paragraph_weights(body)
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
    same = [s for s in parent.find_all(True, recursive=False) if s is not marker and set(_classes(s)) & set(_classes(marker))]
    return parent if same else marker


# --- walking the body into blocks -----------------------------------------------------------------------------
def _has_block(tag: Tag) -> bool:
    return tag.find(lambda t: t.name in rules.BLOCK_TAGS) is not None


def _link_share(text: str) -> float:
    inside = "".join(re.findall(f"{_LINK_OPEN}([^{_LINK_CLOSE}]*){_LINK_CLOSE}", text))
    total = len(re.sub(r"\s", "", text.replace(_LINK_OPEN, "").replace(_LINK_CLOSE, "")))
    return len(re.sub(r"\s", "", inside)) / total if total else 0.0


def _br_lines(piece: str) -> list[str]:
    """Lines of a <br>-broken piece: a line continues the previous one only when it starts lower-case."""
    lines: list[str] = []
    for line in piece.split(_BR):
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
    for piece in re.split(rf"{_BR}[\s\u00a0]*{_BR}[{_BR}\s\u00a0]*", text):
        for line in _br_lines(piece):
            if not forced and _link_share(line) >= 0.8:
                log.debug("dropped link-only line %r (a teaser)", clean_text(line)[:60])
                continue
            line = clean_text(line)
            if line:
                out.append((kind, line, forced))


def _walk(el: Tag, out: list, kind: BlockKind, forced: bool = False) -> None:
    """Depth-first over the body: inline runs become blocks of `kind`; block children set their own kind."""
    run: list[str] = []
    forced = forced or _forced(el)
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
            if _forced(child) and not forced:
                _flush(run, kind, out, forced)
                _flush([child.get_text()], kind, out, True)
            else:
                run.append(child.get_text())
            continue
        _flush(run, kind, out, forced)
        if not forced and not _forced(child) and (_is_link_list(child) or name == "a"):
            log.debug("dropped a list of links or a link card (related articles, menu)")
            continue
        if name in rules.HEADING_TAGS or name == "h1":
            _flush([child.get_text()], "heading", out, forced or _forced(child))
        elif name == "blockquote":
            _walk(child, out, "quote", forced)
        elif name == "li":
            _walk(child, out, "list_item", forced)
        elif name == "p":
            _walk(child, out, kind if kind in ("quote", "list_item") else "paragraph", forced)
        else:
            _walk(child, out, kind, forced)
    _flush(run, kind, out, forced)


# --- last pass ------------------------------------------------------------------------------------------------
def _finish_blocks(candidates: list[tuple[BlockKind, str]], title: str, standfirst: str | None) -> list[Block]:
    """Say the title once, drop repeats (pull quotes, duplicated paragraphs) and empty headings."""
    seen: set[str] = set()
    title_key = fold(title)
    standfirst_key = fold(standfirst) if standfirst else None
    body_keys = [fold(t) for k, t in candidates if k != "quote"]
    all_keys = [fold(t) for k, t in candidates if k != "heading"]
    kept: list[Block] = []
    for kind, text in candidates:
        key = fold(text)
        if key in (title_key, standfirst_key) or key.rstrip(".") == title_key.rstrip("."):
            continue
        if key in seen:
            continue
        bare = key.strip('" ')
        if kind == "quote" and any(bare in other and key != other for other in body_keys):
            continue  # a pull quote repeating a sentence of the body
        if kind != "heading" and len(bare) >= 25 and any(bare in other and len(other) > len(key) for other in all_keys):
            continue  # a highlight box or caption repeating part of a longer block
        seen.add(key)
        kept.append(Block(kind=kind, text=text))
    # An intertitle followed by nothing (its section was all furniture) is not worth saying.
    while kept and kept[-1].kind == "heading":
        kept.pop()
    return kept

"""Compare our extractor with trafilatura and readability-lxml on the fixture pages and the seed.

Run:  .venv/bin/python bench/compare_extractors.py
For each extractor and page: recall of the "must" strings, count of leaked "never" strings, and whether the
title is right and said exactly once (strings compared case-insensitively with whitespace folded).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from audio_edition.config import LimitsConfig  # noqa: E402
from audio_edition.extract import extract_article  # noqa: E402
from audio_edition.source import read_source  # noqa: E402

PAGES = sorted(p for p in (REPO / "tests" / "data" / "pages").iterdir() if p.suffix in (".html", ".htm", ".txt"))
PAGES.append(REPO / "tests" / "data" / "seed" / "poutine-kim-scrape.txt")


def fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def ours(text: str, kind: str, location: str) -> tuple[str, str]:
    from audio_edition.models import SourceDocument

    article = extract_article(SourceDocument(text=text, kind=kind, location=location))
    body = "\n".join([article.standfirst or ""] + [b.text for b in article.blocks])
    return article.title, body


def with_trafilatura(text: str, kind: str, location: str) -> tuple[str, str]:
    import trafilatura

    if kind == "text":  # trafilatura needs markup: give it the scrape as paragraphs
        from html import escape
        text = "<html><body>" + "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip()) + "</body></html>"
    result = trafilatura.bare_extraction(text, favor_precision=True, include_comments=False, with_metadata=True)
    if result is None:
        return "", ""
    data = result if isinstance(result, dict) else result.as_dict()
    return data.get("title") or "", data.get("text") or ""


def with_readability(text: str, kind: str, location: str) -> tuple[str, str]:
    import lxml.html
    from readability import Document

    if kind == "text":
        from html import escape
        text = "<html><body>" + "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip()) + "</body></html>"
    doc = Document(text)
    summary = lxml.html.fromstring(doc.summary()).text_content()
    return doc.short_title() or doc.title() or "", summary


EXTRACTORS: dict[str, Callable[[str, str, str], tuple[str, str]]] = {
    "audio-edition": ours,
    "trafilatura": with_trafilatura,
    "readability-lxml": with_readability,
}


def score(extractor: Callable, page: Path) -> tuple[int, int, int, bool]:
    expected = json.loads(page.with_name(page.stem + ".expected.json").read_text(encoding="utf-8"))
    doc = read_source(str(page), LimitsConfig())
    try:
        title, body = extractor(doc.text, doc.kind, doc.location)
    except Exception as exc:  # a competitor failing on a page counts as no output
        logging.warning("%s failed on %s: %s", extractor.__name__, page.name, exc)
        title, body = "", ""
    spoken = fold(f"{title}\n{body}")
    found = sum(fold(m) in spoken for m in expected["must"])
    leaked = sum(fold(n) in spoken for n in expected["never"])
    title_ok = fold(title) == fold(expected["title"]) and spoken.count(fold(expected["title"])) == 1
    return found, len(expected["must"]), leaked, title_ok


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    print(f"{'page':32} " + " | ".join(f"{name:^26}" for name in EXTRACTORS))
    print(f"{'':32} " + " | ".join(f"{'recall  leaks  title':^26}" for _ in EXTRACTORS))
    totals = {name: [0, 0, 0, 0] for name in EXTRACTORS}
    for page in PAGES:
        cells = []
        for name, extractor in EXTRACTORS.items():
            found, musts, leaked, title_ok = score(extractor, page)
            t = totals[name]
            t[0] += found
            t[1] += musts
            t[2] += leaked
            t[3] += 0 if title_ok else 1
            cells.append(f"{found:>3}/{musts:<3} {leaked:>5}  {'ok' if title_ok else 'BAD':>5}")
        print(f"{page.name:32} " + " | ".join(f"{c:^26}" for c in cells))
    print()
    print(f"{'extractor':18} {'must recall':>12} {'leaked never':>13} {'title errors':>13}")
    for name, (found, musts, leaked, bad_titles) in totals.items():
        print(f"{name:18} {found / musts:>11.1%} {leaked:>13} {bad_titles:>13}")


if __name__ == "__main__":
    main()

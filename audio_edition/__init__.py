"""audio-edition: French news articles to audio editions (Piper voices, MP3, podcast feed, read-along player)."""

import os

# Our parallelism is our own (synthesis threads, MP3 parts), so numpy's OpenBLAS gets one thread: its pool would
# otherwise spin between calls (the limiter's small products) on the cores the synthesis and LAME are using. Set
# before numpy is first imported; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

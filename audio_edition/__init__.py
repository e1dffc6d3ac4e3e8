"""audio-edition: French news articles to audio editions (Piper voices, MP3, podcast feed, read-along player)."""

__version__ = "0.1.0"

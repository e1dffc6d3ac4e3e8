"""A hand-made episode for the player and page tests: a real MP3 (tones from the imageio-ffmpeg binary) and a
Script + Timeline written by hand, so the pages and the player can be tested without a voice.

The Timeline gives each utterance 3.2 s followed by a 0.8 s pause: utterance i starts at 4*i seconds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

from audio_edition.audio.transcripts import write_transcripts
from audio_edition.models import (
    Article,
    Block,
    Episode,
    Script,
    ScriptBlock,
    Section,
    Span,
    Timeline,
    Utterance,
)

SLUG = "sommet-de-test"
AUDIO_FILE = f"{SLUG}-0123abcd.mp3"
STEP = 4.0       # seconds between utterance starts
SPEAK = 3.2      # seconds of "speech" per utterance

# (kind, section, [sentences])
BLOCKS = [
    ("intro", 0, ["Sommet de test. Cette édition audio est lue par une voix de synthèse."]),
    ("title", 0, ["Sommet de test"]),
    ("standfirst", 0, ["Un chapeau court pour présenter l’article."]),
    ("heading", 1, ["Une première partie"]),
    ("paragraph", 1, ["La première phrase du premier paragraphe.", "Une deuxième phrase, un peu plus longue."]),
    ("paragraph", 1, ["Le deuxième paragraphe commence ici.", "Il se termine là."]),
    ("heading", 2, ["Une deuxième partie"]),
    ("quote", 2, ["« Une citation entre guillemets », dit-il."]),
    ("list_item", 2, ["Premier point de la liste."]),
    ("list_item", 2, ["Second point de la liste."]),
    ("paragraph", 2, [("Le dernier paragraphe de l’article, avec une phrase assez longue pour que la transcription "
                      "WebVTT la coupe en plusieurs sous-titres de deux lignes au plus, comme le veut l’usage.")]),
    ("outro", 2, ["Vous avez écouté « Sommet de test ». Cette lecture a été réalisée par une voix de synthèse."]),
]
SECTION_TITLES = ["Sommet de test", "Une première partie", "Une deuxième partie"]


def make_mp3(path: Path, seconds: float) -> None:
    """A mono 44.1 kHz CBR MP3 of a soft tone, from the imageio-ffmpeg binary (argument list, no shell)."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency=330:sample_rate=44100:duration={seconds}",
         "-af", "volume=0.2", "-ac", "1", "-ar", "44100", "-b:a", "64k", "-f", "mp3", str(path)],
        check=True, timeout=60,
    )


def make_episode(title: str = "Sommet de test", standfirst: str = "Un chapeau court pour présenter l’article.",
                 directory: str = "", audio_bytes: int = 0) -> Episode:
    blocks, utterances, u_spans, b_spans = [], [], [], []
    article_blocks = []
    t = 0.0
    for b_index, (kind, section, sentences) in enumerate(BLOCKS):
        sentences = [title] if kind == "title" else list(sentences)
        text = " ".join(sentences)
        article_block = None
        if kind in ("heading", "paragraph", "quote", "list_item"):
            article_block = len(article_blocks)
            article_blocks.append(Block(kind, text))
        blocks.append(ScriptBlock(b_index, kind, text, section, article_block))
        block_start = t
        for s_index, sentence in enumerate(sentences):
            index = len(utterances)
            utterances.append(Utterance(index, kind, b_index, s_index, sentence, sentence, 800))
            u_spans.append(Span(index, round(t, 3), round(t + SPEAK, 3), sentence))
            t += STEP
        b_spans.append(Span(b_index, round(block_start, 3), round(t - STEP + SPEAK, 3), text))
    duration = round(t, 3)
    titles = list(SECTION_TITLES)
    titles[0] = title
    sections = tuple(Section(i, name) for i, name in enumerate(titles))
    section_spans = []
    for section in sections:
        starts = [b_spans[b.index].start for b in blocks if b.section == section.index]
        ends = [b_spans[b.index].end for b in blocks if b.section == section.index]
        section_spans.append(Span(section.index, min(starts), max(ends), section.title))
    article = Article(title=title, blocks=tuple(article_blocks), standfirst=standfirst, byline="Par Jeanne Test",
                      published="2024-05-21", url="https://journal.example/article")
    script = Script(article=article, blocks=tuple(blocks), sections=sections, utterances=tuple(utterances))
    timeline = Timeline(tuple(u_spans), tuple(b_spans), tuple(section_spans), duration)
    return Episode(
        slug=SLUG, directory=directory, audio_file=AUDIO_FILE, audio_bytes=audio_bytes, duration=duration,
        script_hash="0123abcd", voice="fr_FR-test", engine="piper", script=script, timeline=timeline,
        files={"vtt": "transcript.vtt", "srt": "transcript.srt", "chapters": "chapters.json"},
    )


def write_episode_files(episode_dir: Path, episode: Episode) -> None:
    """The MP3 and the transcripts/chapters the page links to, written by the real transcripts module."""
    episode_dir.mkdir(parents=True, exist_ok=True)
    make_mp3(episode_dir / episode.audio_file, episode.duration)
    write_transcripts(episode_dir, episode.timeline, episode.script, audio_file=episode.audio_file)

"""Helpers for the publish tests: real finished episodes on disk without a voice.

The MP3 is a real CBR MP3 (a sine from the imageio-ffmpeg binary, argument list), the transcripts and chapters come
from the real transcripts module; only the Script/Timeline are made by hand. Used until (and besides) the
end-to-end builds with the tiny Piper voice.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import imageio_ffmpeg

from audio_edition.models import Article, Block, Episode, Script, ScriptBlock, Section, Span, Timeline, Utterance
from audio_edition.publish.publisher import plan_episode


def article(n: int, text: str = "", url: str | None = "auto", published: str | None = "auto") -> Article:
    return Article(
        title=f"Article numéro {n} : l'été <brûlant> & les « orages »",
        standfirst=f"Le chapeau de l'article {n}, unique.",
        blocks=(Block("paragraph", text or f"Premier paragraphe de l'article {n}."),
                Block("heading", "Un intertitre"),
                Block("paragraph", f"Second paragraphe {n}.")),
        url=f"https://journal.example.fr/2024/05/article-{n}.html" if url == "auto" else url,
        published=f"2024-05-{10 + n:02d}T08:30:00+02:00" if published == "auto" else published,
        image=f"https://img.example.fr/photo-{n}.jpg",
    )


def mp3(path: Path, seconds: float, frequency: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error",
         "-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={seconds}",
         "-ac", "1", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "64k", "-fflags", "+bitexact", str(path)],
        check=True,
    )


def script_of(a: Article) -> tuple[Script, Timeline]:
    texts = [("title", a.title, 0), ("paragraph", a.blocks[0].text, 0), ("heading", a.blocks[1].text, 1),
             ("paragraph", a.blocks[2].text, 1)]
    blocks = tuple(ScriptBlock(i, kind, text, section, None if i == 0 else i - 1)
                   for i, (kind, text, section) in enumerate(texts))
    utterances = tuple(Utterance(i, kind, i, 0, text, text, 500) for i, (kind, text, _) in enumerate(texts))
    sections = (Section(0, a.title), Section(1, a.blocks[1].text))
    spans = tuple(Span(i, i * 0.5, i * 0.5 + 0.4, t[1]) for i, t in enumerate(texts))
    timeline = Timeline(utterances=spans, blocks=spans,
                        sections=(Span(0, 0.0, 1.0, a.title), Span(1, 1.0, 2.0, a.blocks[1].text)), duration=2.0)
    return Script(a, blocks, sections, utterances), timeline


def finished_episode(out_dir: Path, a: Article, seconds: float = 2.0) -> Episode:
    """plan → build (MP3 + transcripts) → the Episode D's build would hand to publish()."""
    from audio_edition.audio.transcripts import write_transcripts

    plan = plan_episode(out_dir, a)
    script, timeline = script_of(a)
    script_hash = hashlib.sha256(repr(script.utterances).encode()).hexdigest()
    folder = out_dir / "episodes" / plan.slug
    audio_file = f"{plan.slug}-{script_hash[:12]}.mp3"
    frequency = 200 + int(script_hash[:4], 16) % 600
    mp3(folder / audio_file, seconds, frequency)
    files = write_transcripts(folder, timeline, script, audio_file=audio_file)
    return Episode(slug=plan.slug, directory=str(folder), audio_file=audio_file,
                   audio_bytes=(folder / audio_file).stat().st_size, duration=seconds, script_hash=script_hash,
                   voice="fr_FR-tiny-test", engine="piper", script=script, timeline=timeline, files=files)

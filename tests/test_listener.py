"""What a listener, a reader and a podcast app meet in a built episode (the real CLI, the tiny Piper voice):
French typography on the page and in the transcripts, the sample scrape's glued words, chapters and the MP3's own
header as third-party tools read them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest
from conftest import REPO, run_cli

from audio_edition.audio import ffmpeg

TYPOGRAPHY_HTML = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Le prix du pain monte de 15&nbsp;%</title></head><body>
<article><h1>Le prix du pain monte de 15&nbsp;%</h1>
<p>Selon l’Insee, le prix a augmenté de 15&nbsp;% en un an&nbsp;; «&nbsp;c’est beaucoup&nbsp;», dit-il. La ville compte
12&#8239;000 boulangers et le ministre s’interroge&nbsp;: pourquoi&nbsp;? Personne ne le sait vraiment, et la question
reste ouverte pour les mois à venir dans tout le pays.</p>
<h2>Des boulangers inquiets&nbsp;!</h2>
<p>Les boulangers de la région ont dit qu’ils ne pouvaient plus suivre&nbsp;! Le prix de la farine a doublé depuis
2022, selon les chiffres publiés par la chambre des métiers, et celui de l’énergie a triplé. «&nbsp;Nous n’avons pas
le choix&nbsp;», résume l’un d’eux, installé depuis vingt ans dans le centre-ville de la préfecture.</p>
<p>Le gouvernement promet une aide de 300&nbsp;millions d’euros, qui doit être versée avant la fin de l’année selon
le ministère de l’Économie, mais les professionnels la jugent insuffisante pour compenser la hausse des coûts.</p>
</article></body></html>
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import TINY_VOICE

    root = tmp_path_factory.mktemp("listener")
    articles = root / "articles"
    articles.mkdir()
    (articles / "pain.html").write_text(TYPOGRAPHY_HTML, encoding="utf-8")
    shutil.copy(REPO / "examples" / "poutine-kim-scrape.txt", articles / "poutine-kim-scrape.txt")
    result = run_cli("build", str(articles), "--out", str(root / "out"), "--voice", str(TINY_VOICE), "--jobs", "2",
                     cwd=root)
    assert result.code == 0, result.stderr
    return root / "out"


def episode_dir(out: Path, part: str) -> Path:
    (directory,) = [d for d in (out / "episodes").iterdir() if part in d.name]
    return directory


def test_typographic_spaces_stay_on_the_page_and_in_the_transcripts(built):
    directory = episode_dir(built, "pain")
    page = lxml.html.fromstring((directory / "index.html").read_bytes(),
                                parser=lxml.html.HTMLParser(encoding="utf-8"))
    text = page.text_content()
    for kept in ("15\u00a0%", "an\u00a0;", "«\u00a0c’est beaucoup\u00a0»", "12\u202f000", "s’interroge\u00a0:",
                 "pourquoi\u00a0?", "inquiets\u00a0!"):
        assert kept in text, kept
    for name in ("transcript.vtt", "transcript.srt"):
        transcript = (directory / name).read_text(encoding="utf-8")
        assert "15\u00a0%" in transcript and "beaucoup\u00a0»" in transcript and "12\u202f000" in transcript
        lines = transcript.splitlines()
        assert not [line for line in lines if line.startswith(("»", "%", ";", ":", "!", "?", "000"))]
    chapters = json.loads((directory / "chapters.json").read_text(encoding="utf-8"))["chapters"]
    assert "Des boulangers inquiets\u00a0!" in [c["title"] for c in chapters]
    feed = (built / "feed.xml").read_text(encoding="utf-8")
    assert "Le prix du pain monte de 15\u00a0%" in feed
    # the voice got plain spaces: the spoken form has no no-break space
    data = json.loads((directory / "episode.json").read_text(encoding="utf-8"))
    spoken = " ".join(u["spoken"] for u in data["script"]["utterances"])
    assert "\u00a0" not in spoken and "\u202f" not in spoken and "quinze pour cent" in spoken


def test_chapters_in_time_order_and_the_mp3_header_for_third_party_tools(built):
    directory = episode_dir(built, "pain")  # two chapters: the opening and "Des boulangers inquiets !"
    (mp3,) = directory.glob("*.mp3")
    listing = subprocess.run([ffmpeg.ffmpeg_exe(), "-hide_banner", "-i", str(mp3), "-f", "ffmetadata", "-"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    starts = [int(line.split("=")[1]) for line in listing.splitlines() if line.startswith("START=")]
    chapters = json.loads((directory / "chapters.json").read_text(encoding="utf-8"))["chapters"]
    assert len(starts) == len(chapters) >= 2 and starts == sorted(starts) and starts[0] == 0
    import eyed3

    tag = eyed3.load(str(mp3)).tag
    assert [c.title for c in tag.chapters] == [c["title"] for c in chapters]
    if shutil.which("mediainfo") is None:
        pytest.skip("needs Debian mediainfo (make test-deps installs it)")
    out = subprocess.run(["mediainfo", "--Output=JSON", str(mp3)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    track = next(t for t in json.loads(out)["media"]["track"] if t["@type"] == "Audio")
    assert track["BitRate_Mode"] == "CBR" and track["BitRate"] == "64000"
    assert "-lowpass 16.5" in track["Encoded_Library_Settings"] and "-b 64" in track["Encoded_Library_Settings"]


def test_the_sample_scrapes_glued_words_are_split_and_its_names_respelled(built):
    data = json.loads((episode_dir(built, "poutine") / "episode.json").read_text(encoding="utf-8"))
    utterances = data["script"]["utterances"]
    written = " ".join(u["text"] for u in utterances)
    spoken = " ".join(u["spoken"] for u in utterances)
    for glued in ("Undans", "portéeselon", "sensibleset", "notamments"):
        assert glued not in written and glued not in spoken
    assert "Kim Jong Un dans le cadre" in written and "portée selon Washington" in written
    assert "sensibles et à un moment" in written and "notamment L’Iran" in written
    assert "Kim Djong-oune" in spoken and "Jong-un" not in spoken  # the names lexicon: not /ʒɔ̃ɡœ̃/


def test_script_report_lists_the_repairs_and_proposes_entries():
    result = run_cli("script", str(REPO / "examples" / "poutine-kim-scrape.txt"), "--report")
    assert result.code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    repairs = {row[0]: row[3] for row in rows if row[2] == "glued words, split"}
    assert repairs == {"Undans": "Un dans", "portéeselon": "portée selon", "sensibleset": "sensibles et",
                       "notamments": "notamment"}
    proposals = {row[0]: row[4] for row in rows if len(row) == 5}
    assert proposals["week"] == '"week" = "ouike"'  # English reading respelled for the French rules
    assert "Kim" not in proposals or proposals["Kim"].startswith('# "Kim" = ')
    assert "Chang" not in proposals  # the names lexicon has it now

"""One duration, one rounding: the player, the episode page, `episodes list` and the feed say the same length."""

from __future__ import annotations

import re
import subprocess

import lxml.html
import pytest
from conftest import REPO, run_cli
from publish_support import article, finished_episode

from audio_edition.config import Config
from audio_edition.publish.durations import clock, spoken_duration, whole_seconds
from audio_edition.publish.publisher import publish

PLAYER_JS = REPO / "audio_edition" / "publish" / "player" / "player.js"


@pytest.mark.parametrize("seconds, whole", [
    (100.6, 100), (100.999, 100), (101.0, 101), (100.99999997, 101), (101.0004, 101), (0.4, 0), (3725.9, 3725),
    (-1.0, 0), (float("nan"), 0), (None, 0),
])
def test_whole_seconds_truncate_after_the_millisecond(seconds, whole):
    assert whole_seconds(seconds) == whole


def test_clock_and_spoken_duration_share_the_rounding():
    assert clock(100.6) == "1:40" and spoken_duration(100.6) == "1\u00a0min\u00a040\u00a0s"
    assert clock(3725.9) == "1:02:05" and spoken_duration(3725.9) == "1\u00a0h\u00a002\u00a0min"
    assert clock(59.9996) == "1:00" and spoken_duration(59.9996) == "1\u00a0min"


def player_clock(seconds: float) -> str:
    """player.js's own clock(), run by node on the real file's functions."""
    source = PLAYER_JS.read_text(encoding="utf-8")
    functions = "\n".join(re.search(rf"  function {name}\(seconds\) \{{.*?\n  \}}\n", source, re.S).group(0)
                          for name in ("wholeSeconds", "clock"))
    out = subprocess.run(["node", "-e", f"{functions}\nprocess.stdout.write(clock({seconds!r}));"],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout


@pytest.mark.parametrize("seconds", [100.6, 100.999, 100.99999997, 61.0, 3725.9])
def test_the_player_shows_the_same_clock_as_the_page(seconds):
    assert player_clock(seconds) == clock(seconds)


def test_page_feed_and_episodes_list_give_one_duration(tmp_path):
    episode = finished_episode(tmp_path, article(1), seconds=100.6)
    publish(tmp_path, Config(), [episode])
    page = lxml.html.fromstring((tmp_path / "episodes" / episode.slug / "index.html").read_bytes(),
                                parser=lxml.html.HTMLParser(encoding="utf-8"))
    text = page.text_content()
    assert "1\u00a0min\u00a040\u00a0s" in text and "1\u00a0min\u00a041" not in text
    feed = (tmp_path / "feed.xml").read_text(encoding="utf-8")
    assert "<itunes:duration>100</itunes:duration>" in feed
    listed = run_cli("episodes", "list", "--out", str(tmp_path))
    assert listed.code == 0, listed.stderr
    assert re.search(r"\s1:40\s", listed.stdout)

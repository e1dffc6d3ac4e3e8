"""One duration, one rounding: how long an episode (or where a chapter starts) is said everywhere a person or an
app reads it — the player, the episode page, `episodes list`, the RSS feed's itunes:duration, the JSON feed and
the chapter lists.

The value is the Timeline's, in seconds to the millisecond (the MP3's own length: its LAME header gives players
the same number of samples). Shown in whole seconds, it is **truncated**, as a player's elapsed-time clock counts:
at the end of playback the clock reads exactly the total shown beside it ("1:40 / 1:40", never "1:40 / 1:41").
It is truncated after rounding to the millisecond, so that 100.9999997 s from a float sum is 100 s... and
101.0 s read back as 100.99999 s by a media element is still 101 s. player.js applies the same rule.
"""

from __future__ import annotations

import math


def whole_seconds(seconds: float | None) -> int:
    """The duration in whole seconds, as every display shows it (see the module docstring)."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return 0
    return int(math.floor(round(seconds * 1000) / 1000))


def clock(seconds: float | None) -> str:
    """0:05, 3:12, 1:02:03 — the player's clock, `episodes list`, chapter lists."""
    hours, rest = divmod(whole_seconds(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def spoken_duration(seconds: float | None) -> str:
    """'3 min 12 s', '45 s', '1 h 02 min' — as a French reader writes it (with no-break spaces)."""
    hours, rest = divmod(whole_seconds(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours} h {minutes:02d} min"
    elif minutes:
        text = f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    else:
        text = f"{secs} s"
    return text.replace(" ", "\u00a0")  # never split "5 min" across lines

#!/usr/bin/env python3
"""The show's site on a long show: 200 published episodes in the store (one small MP3 copied 200 times, real
transcripts and episode JSON: no voice needed), then, timed:
  1. the show pages alone (`write_show_pages`: index.html + page-N.html)           target < 1 s
  2. `regenerate` from the store with nothing changed (feed.xml, feed.json, every episode page, embed page and
     oEmbed response, the show pages), and how many files it wrote                 target: 0 files written
Medians of --repeat runs are printed and written to bench/results/site.json.

    .venv/bin/python bench/site.py [--episodes 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from audio_edition.config import Config
from audio_edition.publish.publisher import regenerate
from audio_edition.publish.site import write_show_pages
from audio_edition.publish.store import EpisodeStore

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' store of many episodes (site_support.py)
from site_support import BASE, many_episodes  # noqa: E402


def snapshot(out: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.rglob("*")
            if p.is_file() and ".audio-edition" not in p.parts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    config = Config().replace("podcast", base_url=BASE)
    with tempfile.TemporaryDirectory(prefix="ae-bench-site-") as tmp:
        out = Path(tmp)
        many_episodes(out, args.episodes)
        started = time.perf_counter()
        regenerate(out, config)
        first = time.perf_counter() - started
        with EpisodeStore(out, create=False) as store:
            rows = store.published()
        pages, unchanged, written = [], [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            write_show_pages(out, config, rows, "cover.jpg")
            pages.append(time.perf_counter() - started)
            before = snapshot(out)
            started = time.perf_counter()
            regenerate(out, config)
            unchanged.append(time.perf_counter() - started)
            after = snapshot(out)
            written.append(sum(1 for p in after if before.get(p) != after[p]))
        show_pages = len(list(out.glob("page-*.html"))) + 1
    results = {
        "episodes": args.episodes,
        "show_pages": show_pages,
        "first_regenerate_s": round(first, 3),
        "show_pages_s": [round(t, 4) for t in pages],
        "show_pages_median_s": round(median(pages), 4),
        "unchanged_regenerate_s": [round(t, 3) for t in unchanged],
        "unchanged_regenerate_median_s": round(median(unchanged), 3),
        "files_written_when_unchanged": max(written),
        "targets_met": median(pages) < 1.0 and max(written) == 0,
    }
    print(f"{args.episodes} episodes, {show_pages} show pages")
    print(f"show pages: median {median(pages) * 1000:.0f} ms (target < 1 s)")
    print(f"regenerate, first time: {first:.2f} s; nothing changed: median {median(unchanged):.2f} s, "
          f"{max(written)} file(s) written (target 0)")
    # Like _common.write_results, without its psutil import: this benchmark needs no bench extra.
    target = HERE / "results" / "site.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

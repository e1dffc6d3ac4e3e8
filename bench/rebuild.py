#!/usr/bin/env python3
"""Rebuilding a 50-episode feed: nothing changed, then one sentence of one article changed.

50 distinct short news articles (bench/articles.py: a few paragraphs each, with URL, date and byline) are built
once into a fresh output folder with the benchmark voice and a private clip cache. Then, timed:
  1. `audio-edition build` of the same 50 articles, nothing changed           target <= 2 s, nothing spoken
  2. the same after one sentence of one article was edited                   target: exactly 1 utterance spoken
Each case runs --repeat times (each edit gives the sentence a text never built before, so every run of case 2
really has one new sentence); medians are printed with the peak RSS over the process tree.

    .venv/bin/python bench/rebuild.py [--articles 50] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import audio_edition, ensure_voice, mb, median, run, write_results
from articles import article_html

EDITED = 17  # the article whose sentence changes
RUN = int(time.time()) % 90000 + 10000  # a new number each run: an edit is never in the clip cache already


def edit(version: int) -> str:
    """The sentence that changes: a new reference number each version, so every edit is text never spoken."""
    return f"Une correction a été apportée à cet article, référence {RUN + version}."


def write_articles(folder: Path, count: int, edited: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        extra = [edited] if edited is not None and n == EDITED else None
        (folder / f"article-{n + 1:02d}.html").write_text(article_html(n, extra=extra), encoding="utf-8")


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--voice", type=Path, default=None, help="default: the benchmark voice")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep it (an earlier run's feed there is reused)")
    args = parser.parse_args()
    voice = args.voice or ensure_voice()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    articles, out, cache = work / "articles", work / "out", work / "clip-cache"
    stats = work / "stats.json"

    def build() -> tuple[float, int, dict]:
        result = run(audio_edition("build", str(articles), "--voice", str(voice), "--out", str(out),
                                   "--cache-dir", str(cache), "--stats-json", str(stats)), stats_file=stats)
        return result.wall_seconds, result.peak_rss_bytes, result.stats

    try:
        write_articles(articles, args.articles, edited=edit(0))
        print(f"{args.articles} articles in {articles}; first build with {voice.name}...", flush=True)
        first_wall, first_rss, first = build()
        print(f"  first build: {first['built']} episodes built, {first['unchanged']} already there, "
              f"{first['utterances_synthesized']} utterances spoken, "
              f"{first_wall:.1f} s, peak RSS {mb(first_rss)}", flush=True)
        assert first["built"] + first["unchanged"] == args.articles, first

        unchanged, edited = [], []
        for rep in range(args.repeat):
            wall, rss, s = build()
            unchanged.append({"wall": wall, "peak_rss": rss, "built": s["built"],
                              "spoken": s["utterances_synthesized"], "engines_opened": s.get("engines_opened")})
            print(f"  rep {rep + 1} unchanged: {wall:.2f} s, {s['built']} rebuilt, {s['utterances_synthesized']} "
                  f"spoken, peak RSS {mb(rss)}", flush=True)
            write_articles(articles, args.articles, edited=edit(rep + 1))
            wall, rss, s = build()
            edited.append({"wall": wall, "peak_rss": rss, "built": s["built"], "spoken": s["utterances_synthesized"],
                           "cached": s["utterances_cached"]})
            print(f"  rep {rep + 1} one sentence edited: {wall:.2f} s, {s['built']} rebuilt, "
                  f"{s['utterances_synthesized']} spoken, {s['utterances_cached']} from cache, peak RSS {mb(rss)}",
                  flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    results = {
        "articles": args.articles, "repeat": args.repeat,
        "first_build": {"wall": first_wall, "peak_rss": first_rss, "spoken": first["utterances_synthesized"],
                        "audio_seconds": first["audio_seconds"]},
        "unchanged": {"median_wall": median([r["wall"] for r in unchanged]),
                      "median_peak_rss": median([r["peak_rss"] for r in unchanged]), "runs": unchanged},
        "one_sentence_edited": {"median_wall": median([r["wall"] for r in edited]),
                                "median_peak_rss": median([r["peak_rss"] for r in edited]), "runs": edited},
    }
    results["targets_met"] = {
        "unchanged_le_2s": results["unchanged"]["median_wall"] <= 2.0,
        "unchanged_nothing_spoken_or_rebuilt": all(r["spoken"] == 0 and r["built"] == 0 for r in unchanged),
        "edit_exactly_one_utterance": all(r["spoken"] == 1 and r["built"] == 1 for r in edited),
    }
    print(f"\nunchanged rebuild of {args.articles} episodes: median {results['unchanged']['median_wall']:.2f} s "
          f"(target <= 2 s), peak RSS {mb(results['unchanged']['median_peak_rss'])}")
    print(f"one sentence edited: median {results['one_sentence_edited']['median_wall']:.2f} s, utterances spoken "
          f"{[r['spoken'] for r in edited]} (target: exactly 1), peak RSS "
          f"{mb(results['one_sentence_edited']['median_peak_rss'])}")
    print(f"targets met: {results['targets_met']}")
    print(f"results: {write_results('rebuild', results)}")
    return results


if __name__ == "__main__":
    main()

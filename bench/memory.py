#!/usr/bin/env python3
"""Memory stays flat on a long article: a ~30-minute episode built within 1 GB peak RSS.

The article: bench/data/article-1500.txt three times over (~4,600 words, about 30 minutes at newsreading pace),
each copy under its own intertitle and with its figures changed, plus one 1,000-character run-on paragraph full
of figures (the kind of text whose spoken form grows several times longer than it is written). Built with the
benchmark voice, all cores, --no-cache. Checked:
  - peak RSS, summed over the build and its workers (sampled every 50 ms)          target <= 1 GB
  - the longest text sent to the engine (the build's --stats-json)             target <= script.max_utterance_chars

    .venv/bin/python bench/memory.py [--copies 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, DATA, PYTHON, audio_edition, ensure_voice, mb, run, write_results

from audio_edition.config import ScriptConfig

LIMIT_BYTES = 1_000_000_000
RUN_ON_LIMIT_BYTES = 400_000_000
RUN_ON_CHARS = 3600
LEADS = ["D'abord, ", "Par ailleurs, ", "En outre, ", "De plus, ", "Enfin, "]
PARTS = ["Première partie", "Deuxième partie", "Troisième partie", "Quatrième partie", "Cinquième partie"]
RUN_ON = " ".join(f"le lot {1234567 + 97 * i} de 2 345 678,90 € livré le {i + 1}/05/2024 à 14h30" for i in range(14))


def long_article(copies: int) -> str:
    """A plain-text scrape: the title line, then paragraphs; copies differ by their figures."""
    title, *body = (DATA / "article-1500.txt").read_text(encoding="utf-8").split("\n\n")
    out = [f"{title.strip()} (édition longue)"]
    for n in range(copies):
        out.append(PARTS[n % len(PARTS)])
        # Each copy is its own text (the extractor drops a paragraph repeated inside another, as it does pull
        # quotes; a real long read does not repeat itself): figures shifted, a linking word before each paragraph.
        lead = LEADS[n % len(LEADS)]
        out += [lead + re.sub(r"\d+", lambda m, n=n: str(int(m.group()) + n), p.strip()) for p in body if p.strip()]
    out.append(f"Récapitulatif des livraisons : {RUN_ON}.")
    return "\n\n".join(out) + "\n"


def run_on_article() -> str:
    """The 1,500-word article's words as one sentence of RUN_ON_CHARS characters: full stops become commas."""
    title, *body = (DATA / "article-1500.txt").read_text(encoding="utf-8").split("\n\n")
    words = re.sub(r"[.!?…]+", ",", " ".join(p.strip() for p in body if p.strip()))
    sentence = re.sub(r"\s+", " ", words)[:RUN_ON_CHARS].rsplit(" ", 1)[0].rstrip(",; ")
    return f"{title.strip()}\n\n{sentence[0].upper()}{sentence[1:]}.\n"


def run_on(jobs: int | None) -> dict:
    from synth import joe_voice, spoken_lines

    voice = joe_voice()
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        article = work / "run-on.txt"
        article.write_text(run_on_article(), encoding="utf-8")
        print(f"{article.name}: one sentence of {len(article.read_text(encoding='utf-8').splitlines()[2])} "
              f"characters; {voice.name}", flush=True)
        stats = work / "stats.json"
        build = run(audio_edition("build", str(article), "--voice", str(voice), "--no-cache", "--out",
                                  str(work / "out"), "--stats-json", str(stats),
                                  *(["--jobs", str(jobs)] if jobs else [])), stats_file=stats)
        text = " ".join(spoken_lines(article).split()) + "\n"  # the whole sentence on one line, as a user would
        cli = run([PYTHON, str(BENCH / "_piper_cli_timed.py"), "-m", str(voice), "-f", str(work / "out.wav")],
                  stdin=text, env={"BENCH_ONNX_SECONDS_FILE": str(work / "onnx.json")})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {"chars": RUN_ON_CHARS, "build_peak_rss": build.peak_rss_bytes, "build_wall": build.wall_seconds,
               "cli_peak_rss": cli.peak_rss_bytes, "cli_wall": cli.wall_seconds,
               "longest_spoken_chars": build.stats.get("longest_spoken_chars"),
               "targets_met": {"run_on_peak_rss_le_400MB": build.peak_rss_bytes <= RUN_ON_LIMIT_BYTES}}
    print(f"build: peak RSS {mb(build.peak_rss_bytes)} (target <= {mb(RUN_ON_LIMIT_BYTES)}), wall "
          f"{build.wall_seconds:.1f} s, longest text sent to the voice {results['longest_spoken_chars']} characters")
    print(f"piper CLI: peak RSS {mb(cli.peak_rss_bytes)}, wall {cli.wall_seconds:.1f} s")
    print(f"results: {write_results('memory-run-on', results)}")
    return results


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None, help="synthesis workers (default: all cores)")
    parser.add_argument("--run-on", action="store_true", help="the 3,600-character sentence, real voice")
    args = parser.parse_args()
    if args.run_on:
        return run_on(args.jobs)
    voice = ensure_voice()
    cap = ScriptConfig().max_utterance_chars
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        article = work / "long-article.txt"
        article.write_text(long_article(args.copies), encoding="utf-8")
        words = len(article.read_text(encoding="utf-8").split())
        workers = f"--jobs {args.jobs}" if args.jobs else "all cores"
        print(f"{article.name}: {words} words; building with {voice.name}, {workers}, --no-cache...", flush=True)
        stats = work / "stats.json"
        result = run(audio_edition("build", str(article), "--voice", str(voice), "--no-cache", "--out",
                                   str(work / "out"), "--stats-json", str(stats),
                                   *(["--jobs", str(args.jobs)] if args.jobs else [])), stats_file=stats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    s = result.stats
    results = {
        "words": words, "audio_seconds": s["audio_seconds"], "wall_seconds": result.wall_seconds,
        "utterances": s["utterances_synthesized"], "jobs": s["jobs"], "peak_rss": result.peak_rss_bytes,
        "peak_pss": result.peak_pss_bytes,
        "longest_spoken_chars": s.get("longest_spoken_chars"), "cap_chars": cap,
        "targets_met": {"peak_rss_le_1GB": result.peak_rss_bytes <= LIMIT_BYTES,
                        "no_utterance_over_cap": (s.get("longest_spoken_chars") or 0) <= cap},
    }
    print(f"audio {s['audio_seconds'] / 60:.1f} min, {s['utterances_synthesized']} utterances, {s['jobs']} workers, "
          f"wall {result.wall_seconds:.0f} s")
    print(f"peak RSS (build + workers): {mb(result.peak_rss_bytes)}   target <= {mb(LIMIT_BYTES)}"
          f"   (peak PSS {mb(result.peak_pss_bytes)})")
    print(f"longest text sent to the engine: {s.get('longest_spoken_chars')} characters   target <= {cap}")
    print(f"targets met: {results['targets_met']}")
    print(f"results: {write_results('memory' if not args.jobs else f'memory-jobs{args.jobs}', results)}")
    return results


if __name__ == "__main__":
    main()

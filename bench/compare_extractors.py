"""Extraction quality and speed: audio-edition against trafilatura and readability-lxml, in one run.

    .venv/bin/python bench/compare_extractors.py [--benchmark DIR] [--fixtures-only]

1. The public article-extraction benchmark (181 real article pages with hand-marked bodies, MIT): each extractor
   writes `output/<name>.json` in a scratch copy of the benchmark folder and the benchmark's own `evaluate.py`
   scores them (token-shingle F1, precision, recall, with its bootstrap ± ). DIR is that folder (it holds
   `evaluate.py`, `ground-truth.json` and `html/`); by default `$AE_EXTRACTION_BENCHMARK`, else the first
   `benchmarks/article-extraction-benchmark` found beside the repository or one of its parents.
   Our `articleBody` is the article's blocks (schema.org's articleBody: no headline, no standfirst).
   Also timed: our extraction against trafilatura's on the same pages, in this process (pages read first); the
   ratio is of CPU time, which the load of a shared machine does not change.
2. Our fixture pages (French, and a few English): recall of each page's "must" strings, count of leaked
   "never" strings, and whether the title is right and said once.
Writes bench/results/extraction.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from audio_edition.config import LimitsConfig  # noqa: E402
from audio_edition.errors import InputError  # noqa: E402
from audio_edition.extract import extract_article  # noqa: E402
from audio_edition.models import SourceDocument  # noqa: E402
from audio_edition.sources.reader import read_source  # noqa: E402

RESULTS = REPO / "bench" / "results" / "extraction.json"
FIXTURE_DIRS = (REPO / "tests" / "data" / "pages", REPO / "tests" / "data" / "pages-en")
SEED = REPO / "tests" / "data" / "seed" / "poutine-kim-scrape.txt"
BENCHMARK_NAME = "article-extraction-benchmark"
TARGET_F1, TARGET_PR, TARGET_SPEED = 0.970, 0.96, 2.0

Extractor = Callable[[str, str, str | None], tuple[str, str]]  # (text, kind, url) -> (title, body)


# --- the three extractors -------------------------------------------------------------------------------------
def ours(text: str, kind: str, url: str | None) -> tuple[str, str]:
    """Title and what is read after it: the standfirst, then the blocks."""
    article = extract_article(SourceDocument(text=text, kind=kind, location=url or "page", url=url))  # type: ignore[arg-type]
    return article.title, "\n".join([article.standfirst or "", *(block.text for block in article.blocks)])


def ours_article_body(text: str, kind: str, url: str | None) -> tuple[str, str]:
    """schema.org's articleBody, which the benchmark marks: the blocks, without headline and standfirst."""
    article = extract_article(SourceDocument(text=text, kind=kind, location=url or "page", url=url))  # type: ignore[arg-type]
    return article.title, "\n".join(block.text for block in article.blocks)


def as_markup(text: str, kind: str) -> str:
    """The other two need markup: a plain-text scrape becomes one <p> per line."""
    if kind != "text":
        return text
    return "<html><body>" + "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip()) + "</body></html>"


def with_trafilatura(text: str, kind: str, url: str | None) -> tuple[str, str]:
    import trafilatura

    result = trafilatura.bare_extraction(as_markup(text, kind), url=url, include_comments=False, with_metadata=True)
    if result is None:
        return "", ""
    data = result if isinstance(result, dict) else result.as_dict()
    return data.get("title") or "", data.get("text") or ""


def with_readability(text: str, kind: str, url: str | None) -> tuple[str, str]:
    import lxml.html
    from readability import Document

    doc = Document(as_markup(text, kind))
    return doc.short_title() or doc.title() or "", lxml.html.fromstring(doc.summary()).text_content()


EXTRACTORS: dict[str, Extractor] = {
    "audio-edition": ours,
    "trafilatura": with_trafilatura,
    "readability-lxml": with_readability,
}


def run_safely(extractor: Extractor, text: str, kind: str, url: str | None) -> tuple[str, str]:
    try:
        return extractor(text, kind, url)
    except InputError:  # we refuse a page with no article text: an empty answer
        return "", ""
    except Exception as exc:  # a competitor failing on a page counts as no output
        logging.warning("%s failed on %s: %s", extractor.__name__, url, exc)
        return "", ""


# --- 1. the public benchmark ----------------------------------------------------------------------------------
def find_benchmark(given: str | None) -> Path | None:
    if given or os.environ.get("AE_EXTRACTION_BENCHMARK"):
        return Path(given or os.environ["AE_EXTRACTION_BENCHMARK"])
    for parent in REPO.parents:
        for candidate in parent.glob(f"*/benchmarks/{BENCHMARK_NAME}"):
            return candidate
        if (parent / "benchmarks" / BENCHMARK_NAME).is_dir():
            return parent / "benchmarks" / BENCHMARK_NAME
    return None


def run_benchmark(folder: Path) -> dict:
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {key: gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8", "replace")
             for key in truth}
    # Every extractor runs in this process: its CPU time is what it costs, whatever else the machine is running
    # (wall-clock time, also kept, swings with the load of a shared machine).
    seconds, cpu_seconds, outputs = {}, {}, {}
    for name, extractor in {**EXTRACTORS, "audio-edition": ours_article_body}.items():
        started, cpu_started = time.perf_counter(), time.process_time()
        outputs[name] = {key: {"articleBody": run_safely(extractor, page, "html", truth[key].get("url"))[1]}
                         for key, page in pages.items()}
        seconds[name] = time.perf_counter() - started
        cpu_seconds[name] = time.process_time() - cpu_started
        print(f"  {name:18} {len(pages)} pages in {seconds[name]:.1f} s ({cpu_seconds[name]:.1f} s CPU)", flush=True)
    scores = score_with_evaluate(folder, outputs)
    return {"pages": len(pages), "seconds": seconds, "cpu_seconds": cpu_seconds, "scores": scores,
            "speed_ratio": cpu_seconds["audio-edition"] / cpu_seconds["trafilatura"]}


def score_with_evaluate(folder: Path, outputs: dict[str, dict]) -> dict:
    """The benchmark's own evaluate.py, run in a scratch copy of its layout (it reads ./output/*.json)."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        shutil.copy(folder / "evaluate.py", work)
        shutil.copy(folder / "ground-truth.json", work)
        (work / "output").mkdir()
        for name, output in outputs.items():
            (work / "output" / f"{name}.json").write_text(json.dumps(output), encoding="utf-8")
        shown = subprocess.run([sys.executable, "evaluate.py", "--output", "metrics.json"], cwd=work, check=True,
                               capture_output=True, text=True)
        print(shown.stdout)
        metrics = json.loads((work / "metrics.json").read_text(encoding="utf-8"))
    keys = ("f1", "f1_std", "precision", "precision_std", "recall", "recall_std", "accuracy")
    return {name: {k: round(m[k], 4) for k in keys} for name, m in metrics.items()}


# --- 2. the fixture pages -------------------------------------------------------------------------------------
def fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def fixture_pages() -> list[Path]:
    pages = [p for folder in FIXTURE_DIRS if folder.is_dir() for p in sorted(folder.iterdir())
             if p.suffix in (".html", ".htm", ".txt")]
    return [*pages, SEED]


def score_fixture(extractor: Extractor, page: Path) -> tuple[int, int, int, bool]:
    expected = json.loads(page.with_name(page.stem + ".expected.json").read_text(encoding="utf-8"))
    doc = read_source(str(page), LimitsConfig())
    title, body = run_safely(extractor, doc.text, doc.kind, doc.url)
    spoken = fold(f"{title}\n{body}")
    found = sum(fold(m) in spoken for m in expected["must"])
    leaked = sum(fold(n) in spoken for n in expected["never"])
    title_ok = fold(title) == fold(expected["title"]) and spoken.count(fold(expected["title"])) == 1
    return found, len(expected["must"]), leaked, title_ok


def run_fixtures() -> dict:
    print(f"{'page':34} " + " | ".join(f"{name:^22}" for name in EXTRACTORS))
    print(f"{'':34} " + " | ".join(f"{'recall leaks title':^22}" for _ in EXTRACTORS))
    totals = {name: [0, 0, 0, 0] for name in EXTRACTORS}
    for page in fixture_pages():
        cells = []
        for name, extractor in EXTRACTORS.items():
            found, musts, leaked, title_ok = score_fixture(extractor, page)
            total = totals[name]
            for i, value in enumerate((found, musts, leaked, 0 if title_ok else 1)):
                total[i] += value
            cells.append(f"{found:>3}/{musts:<3} {leaked:>4} {'ok' if title_ok else 'BAD':>5}")
        print(f"{page.name:34} " + " | ".join(f"{c:^22}" for c in cells))
    return {name: {"pages": len(fixture_pages()), "must_recall": round(found / musts, 4), "leaked_never": leaked,
                   "title_errors": bad} for name, (found, musts, leaked, bad) in totals.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", help="the article-extraction-benchmark folder")
    parser.add_argument("--fixtures-only", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results: dict = {}
    folder = None if args.fixtures_only else find_benchmark(args.benchmark)
    if folder is not None:
        print(f"=== {BENCHMARK_NAME} ({folder.name}: scored by its own evaluate.py)")
        results["benchmark"] = bench = run_benchmark(folder)
        ours_score = bench["scores"]["audio-edition"]
        results["targets_met"] = {
            f"F1 >= {TARGET_F1}": ours_score["f1"] >= TARGET_F1,
            f"precision and recall >= {TARGET_PR}": min(ours_score["precision"], ours_score["recall"]) >= TARGET_PR,
            f"time <= {TARGET_SPEED}x trafilatura": bench["speed_ratio"] <= TARGET_SPEED,
        }
        print(f"our extraction took {bench['speed_ratio']:.2f}x trafilatura's CPU time on the same pages")
    elif not args.fixtures_only:
        print(f"no {BENCHMARK_NAME} folder found (give --benchmark DIR): fixtures only")
    print("\n=== fixture pages")
    results["fixtures"] = fixtures = run_fixtures()
    print(f"\n{'extractor':18} {'must recall':>12} {'leaked never':>13} {'title errors':>13}")
    for name, row in fixtures.items():
        print(f"{name:18} {row['must_recall']:>11.1%} {row['leaked_never']:>13} {row['title_errors']:>13}")
    for target, met in results.get("targets_met", {}).items():
        print(f"  {target:<40} {'met' if met else 'NOT MET'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

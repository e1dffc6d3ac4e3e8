"""`audio-edition extract` as a user runs it: text and JSON output, and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest
from conftest import DATA, SEED, fold, run_cli

SEED_TXT = SEED / "poutine-kim-scrape.txt"


def test_extract_prints_title_then_blocks():
    result = run_cli("extract", str(DATA / "pages" / "lemonde-like.html"))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Les abeilles sauvages, grandes oubliées du plan pollinisateurs"
    assert lines[1].startswith("Les près de mille espèces")  # the standfirst
    assert "Des milieux de plus en plus pauvres" in lines
    assert fold(result.stdout).count(fold(lines[0])) == 1
    assert "Lire aussi" not in result.stdout and "Publicité" not in result.stdout


def test_extract_json_fields():
    result = run_cli("extract", "--json", str(SEED_TXT))
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"title", "standfirst", "byline", "translator", "published", "url", "lang", "image",
                         "site_name", "blocks", "declared_langs", "paywall_notice", "accessible_for_free", "excerpt"}
    assert data["byline"] == "Par Choe Sang-Hun" and data["translator"] == "Traduction de Jaime Arrambide"
    assert {b["kind"] for b in data["blocks"]} <= {"heading", "paragraph", "quote", "list_item"}


def test_extract_reads_stdin():
    result = run_cli("extract", "-", input=SEED_TXT.read_text(encoding="utf-8"))
    assert result.code == 0 and result.stdout.startswith("Désespéré de munitions")


@pytest.mark.parametrize("name, content, message", [
    ("empty.html", b"", "empty input"),
    ("binary.html", b"\x00\x01\x02\x03PK\x03\x04" * 200, "binary"),
    ("nav.html", b"<html><body><nav><a href='/'>Accueil</a></nav><footer>(c) 2024</footer></body></html>",
     "no article"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    result = run_cli("extract", str(path))
    assert result.code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_missing_file_and_unreachable_url():
    for source in ("/nonexistent/article.html", "http://127.0.0.1:9/article"):
        result = run_cli("extract", source)
        assert result.code == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

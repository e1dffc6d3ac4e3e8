"""The reading script: order, sections, links to the article, pauses by structure, and the `script` command."""

from __future__ import annotations

import json

import pytest
from conftest import SEED, run_cli

from audio_edition.config import Config, PauseConfig, ScriptConfig
from audio_edition.errors import InputError
from audio_edition.models import Article, Block, script_from_dict, script_to_dict
from audio_edition.speech.lexicon import load_lexicon
from audio_edition.speech.script import build_script

ARTICLE = Article(
    title="Donald Trump reçoit M. Macron à 14h30",
    standfirst="Une rencontre au sommet, la 3e en un an.",
    byline="Par Choe Sang-Hun",
    translator="Traduction de Jaime Arrambide",
    site_name="Le Monde",
    blocks=(
        Block("paragraph", "Le président est arrivé. Il a salué la presse."),
        Block("quote", "« Nous irons jusqu'au bout », a-t-il dit."),
        Block("heading", "Un sommet au XXIe siècle"),
        Block("paragraph", "La BCE observe."),
        Block("list_item", "Premier point : 3 M€."),
        Block("list_item", "Second point : l'UE."),
    ),
)


@pytest.fixture(scope="module")
def script():
    return build_script(ARTICLE, Config(), load_lexicon())


def test_order_is_intro_title_standfirst_body_outro(script):
    kinds = [b.kind for b in script.blocks]
    assert kinds == ["intro", "title", "standfirst", "paragraph", "quote", "heading", "paragraph", "list_item",
                     "list_item", "outro"]
    assert [u.kind for u in script.utterances][0] == "intro" and script.utterances[-1].kind == "outro"
    assert [u.index for u in script.utterances] == list(range(len(script.utterances)))


def test_opening_names_the_article_once_and_discloses_the_synthetic_voice(script):
    intro = " ".join(u.text for u in script.utterances if u.kind == "intro")
    assert "voix de synthèse" in intro
    assert script.utterances[0].kind == "intro" and script.utterances[1].kind == "title"
    opening = " ".join(u.text for u in script.utterances if u.kind in ("intro", "title"))
    assert opening.count(ARTICLE.title) == 1, "the listener must hear the headline once, not twice in a row"


def test_outro_credits_author_and_translator(script):
    outro = " ".join(u.text for u in script.utterances if u.kind == "outro")
    assert "un article de Choe Sang-Hun" in outro and "traduit par Jaime Arrambide" in outro
    assert "Par Choe" not in outro


def test_outro_without_credits_reads_cleanly():
    bare = Article(title="Titre", blocks=(Block("paragraph", "Texte."),))
    outro = [u.text for u in build_script(bare, Config()).utterances if u.kind == "outro"]
    assert outro[0] == "Vous avez écouté « Titre »."


def test_sections_are_the_opening_then_one_per_heading(script):
    assert [s.title for s in script.sections] == [ARTICLE.title, "Un sommet au XXIe siècle"]
    assert [b.section for b in script.blocks] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert [b.article_block for b in script.blocks] == [None, None, None, 0, 1, 2, 3, 4, 5, None]


def test_every_utterance_links_to_its_block_and_sentence_and_nothing_is_lost(script):
    for block in script.blocks:
        mine = [u for u in script.utterances if u.block == block.index]
        assert mine and all(u.kind == block.kind for u in mine)
        assert " ".join(u.text for u in mine) == block.text
    first_paragraph = [u for u in script.utterances if u.block == 3]
    assert [u.sentence for u in first_paragraph] == [0, 1]


def test_spoken_form_is_normalised_with_the_lexicon(script):
    title = next(u for u in script.utterances if u.kind == "title")
    assert title.text == ARTICLE.title
    assert title.spoken == "Donald Treumpe reçoit monsieur Macron à quatorze heures trente."  # ends cleanly
    spoken = " ".join(u.spoken for u in script.utterances)
    assert "vingt et unième siècle" in spoken and "trois millions d'euros" in spoken and "bé cé e" in spoken


def test_pauses_follow_the_structure(script):
    p = PauseConfig()
    by_block = {}
    for u in script.utterances:
        by_block.setdefault(u.block, []).append(u)
    last = {b: us[-1].pause_after_ms for b, us in by_block.items()}
    assert last[1] == p.after_title and last[2] == p.after_standfirst and last[5] == p.after_heading
    assert by_block[3][0].pause_after_ms == p.after_sentence  # between two sentences
    assert last[3] >= p.around_quote  # before the quote
    assert last[4] == p.around_quote  # after the quote
    assert last[7] == p.after_list_item and last[6] == p.after_paragraph
    assert script.utterances[-1].pause_after_ms == 0


def test_pauses_and_templates_are_configurable():
    config = Config(pauses=PauseConfig(after_title=1234),
                    script=ScriptConfig(intro_template="{site} présente {title}, lu par une voix de synthèse.",
                                        outro_template="Fin{credits}."))
    script = build_script(ARTICLE, config)
    assert next(u for u in script.utterances if u.kind == "title").pause_after_ms == 1234
    assert script.utterances[0].text.startswith("Le Monde présente Donald Trump")
    assert script.utterances[-1].text == "Fin, un article de Choe Sang-Hun, traduit par Jaime Arrambide."


@pytest.mark.parametrize("template, message", [("{titre}.", "unknown field {titre}"), ("{title", "not a valid")])
def test_bad_templates_are_input_errors(template, message):
    with pytest.raises(InputError, match=message):
        build_script(ARTICLE, Config(script=ScriptConfig(intro_template=template)))


def test_long_paragraphs_become_utterances_under_the_limit():
    long_sentence = "Le texte, " + ", ".join(f"qui dit la chose numéro {i} avec soin" for i in range(60)) + "."
    article = Article(title="Long", blocks=(Block("paragraph", long_sentence),))
    script = build_script(article, Config())
    body = [u for u in script.utterances if u.kind == "paragraph"]
    assert len(body) > 5 and all(len(u.text) <= 300 for u in body)
    assert all(u.sentence == 0 for u in body)
    assert " ".join(u.text for u in body) == long_sentence


def test_script_cli_prints_every_utterance_with_its_pause():
    result = run_cli("script", str(SEED / "poutine-kim-scrape.txt"))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[intro +") and "voix de synthèse" in result.stdout
    assert lines[-1].startswith("[outro +0ms]")
    assert any(line.startswith("[title +900ms] Désespéré de munitions") for line in lines)
    assert "deux mille vingt-deux" in result.stdout  # "février 2022", normalised


def test_script_cli_json_is_the_full_structure():
    result = run_cli("script", str(SEED / "poutine-kim-scrape.txt"), "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"article", "sections", "blocks", "utterances"}
    script = script_from_dict(data)
    assert script_to_dict(script) == data
    assert all(len(u.text) <= 300 for u in script.utterances)
    assert {"index", "kind", "block", "sentence", "text", "spoken", "pause_after_ms"} == set(data["utterances"][0])


def test_script_cli_report_lists_the_words_espeak_guesses():
    result = run_cli("script", str(SEED / "poutine-kim-scrape.txt"), "--report")
    assert result.code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    by_word = {row[0]: row for row in rows}
    assert by_word["week"][2] == "read with English rules" and by_word["week"][3].startswith("/w")
    assert int(by_word["Ukraine"][1]) >= 10  # counted over the whole script
    assert rows.index(by_word["week"]) < rows.index(by_word["Ukraine"])  # English readings come first
    assert "Pyongyang" not in by_word and "Washington" not in by_word  # fixed by the starter lexicon
    assert "Chang" not in by_word and "Jong" not in by_word  # fixed by the names lexicon ("Kim Jong-un", "Chang")
    assert "Corée" not in by_word  # a French-looking name read right by French rules


def test_bad_template_in_config_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "audio-edition.toml").write_text('[script]\nintro_template = "{nope}"\n', encoding="utf-8")
    result = run_cli("script", str(SEED / "poutine-kim-scrape.txt"), cwd=tmp_path)
    assert result.code == 2
    assert "unknown field {nope}" in result.stderr and "Traceback" not in result.stderr


def test_report_classifies_english_spelled_and_foreign_names():
    from audio_edition.speech.report import guessed_words

    article = Article(title="Essai", blocks=(Block("paragraph", "Le week-end, pfft, Yonhap et Yonhap parlent de la Corée."),))
    found = {g.word: g for g in guessed_words(build_script(article, Config()))}
    assert found["week"].reason == "english" and "(en)" not in found["week"].phonemes
    assert found["pfft"].reason == "spelled"
    assert found["Yonhap"].reason == "rules" and found["Yonhap"].count == 2
    assert "Corée" not in found and "parlent" not in found
    assert found["week"].format().startswith("week\t1\tread with English rules\t/")


def test_blocks_with_nothing_to_say_are_skipped_and_indices_stay_contiguous():
    article = Article(title="T", blocks=(Block("paragraph", "[…]"), Block("paragraph", "Texte."),
                                         Block("quote", "« »")))
    script = build_script(article, Config())
    assert [b.kind for b in script.blocks] == ["intro", "title", "paragraph", "outro"]
    assert [b.index for b in script.blocks] == [0, 1, 2, 3] and script.blocks[2].article_block == 1
    assert {u.block for u in script.utterances} == {0, 1, 2, 3}

"""Speed work that must not silently regress — behaviour, not timings (those are in bench/).

- A rebuild with nothing to speak loads no voice and starts no worker, whatever --jobs says, and does not read
  unchanged article files again — but sees a changed byte.
- No text longer than the segmentation cap reaches the engine, even when spelling out figures makes a written
  piece several times longer.
- Articles are assembled while the next is spoken, and the voice starts without waiting for the encoder's level
  check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FILLER, TINY_VITS, TINY_VOICE, run_cli

from audio_edition.config import Config
from audio_edition.models import Article, Block
from audio_edition.speech.script import build_script
from audio_edition.voice.pool import SynthesisPool
from audio_edition.voice.spec import EngineSpec

CAP = Config().script.max_utterance_chars
ARTICLES = {
    "piscine.txt": "La piscine de Rennes rouvre ses portes\n\nLa piscine municipale rouvre lundi après huit mois de "
                   "travaux. Le bassin a été entièrement refait.\n\nLes horaires d'été commencent le 1er juillet.\n\n"
                   f"{FILLER}\n",
    "marche.txt": "Le marché couvert de Dijon rénové\n\nLe marché couvert a rouvert samedi matin. Les commerçants "
                  "ont retrouvé leurs étals.\n\nLa rénovation a coûté 4 millions d'euros.\n\n"
                  f"{FILLER}\n",
    "festival.txt": "Le festival d'Angers dévoile sa programmation\n\nQuarante concerts sont annoncés cet été. La "
                    "billetterie ouvre mardi.\n\nLe festival attend trente mille spectateurs.\n\n"
                    f"{FILLER}\n",
}
# Written, each piece fits the cap; spoken ("un million deux cent trente-quatre mille…"), several times over it.
FIGURES = " ".join(f"le lot {1234567 + 97 * i} de 2 345 678,90 € livré le {i + 1}/05/2024 à 14h30" for i in range(12))


def _build(root: Path, out: str, *extra: str) -> dict:
    stats = root / f"stats-{out}.json"
    result = run_cli("build", str(root / "site"), "--out", str(root / out), "--voice", str(TINY_VOICE),
                     "--cache-dir", str(root / "cache"), "--stats-json", str(stats), *extra, cwd=root)
    assert result.code == 0, result.stderr
    return json.loads(stats.read_text())


@pytest.mark.slow
def test_rebuild_with_nothing_to_speak_loads_no_voice_and_starts_no_worker(tmp_path):
    (tmp_path / "site").mkdir()
    for name, text in ARTICLES.items():
        (tmp_path / "site" / name).write_text(text, encoding="utf-8")
    first = _build(tmp_path, "out", "--jobs", "2")
    assert first["built"] == 3 and first["utterances_synthesized"] > 0 and first["engines_opened"] == 1
    feed = (tmp_path / "out" / "feed.xml").read_bytes()

    unchanged = _build(tmp_path, "out", "--jobs", "2")
    assert (unchanged["built"], unchanged["unchanged"], unchanged["utterances_synthesized"]) == (0, 3, 0)
    assert unchanged["engines_opened"] == 0, "an unchanged rebuild must not load the voice or start workers"
    assert (tmp_path / "out" / "feed.xml").read_bytes() == feed

    # The unchanged files were not even read again (source index), but a changed byte is always seen.
    index = json.loads((tmp_path / "out" / ".audio-edition" / "sources.json").read_text())
    assert len(index) == 3
    piscine = tmp_path / "site" / "piscine.txt"
    piscine.write_text(ARTICLES["piscine.txt"].replace("lundi", "mardi"), encoding="utf-8")  # same length
    edited = _build(tmp_path, "out", "--jobs", "2")
    assert (edited["built"], edited["unchanged"], edited["utterances_synthesized"]) == (1, 2, 1)

    # A new output folder: every episode is built again, but every sentence comes from the clip cache.
    elsewhere = _build(tmp_path, "out2", "--jobs", "2")
    assert elsewhere["built"] == 3 and elsewhere["utterances_synthesized"] == 0
    assert elsewhere["utterances_cached"] == first["utterances_synthesized"] + first["utterances_cached"]
    assert elsewhere["engines_opened"] == 0, "a fully cached build must not load the voice or start workers"


def test_spelled_out_figures_never_push_an_utterance_over_the_cap():
    article = Article(title="Livraisons du mois", blocks=(Block("paragraph", f"Récapitulatif : {FIGURES}."),
                                                         Block("paragraph", "x" * 700)))
    script = build_script(article, Config())
    body = [u for u in script.utterances if u.kind == "paragraph"]
    assert max(len(u.spoken) for u in script.utterances) <= CAP
    figures = [u for u in body if u.block == body[0].block]
    assert max(len(u.text) for u in figures) < CAP // 2, "pieces were cut again for their spoken length"
    # Nothing lost, nothing reordered: the pieces of each block join back to its text.
    assert " ".join(u.text for u in figures) == f"Récapitulatif : {FIGURES}."
    assert "".join(u.text for u in body if u.block != body[0].block) == "x" * 700
    assert "deux millions trois cent quarante-cinq mille" in " ".join(u.spoken for u in body)


def test_engine_receives_nothing_longer_than_the_cap(tmp_path):
    article = Article(title="Livraisons", blocks=(Block("paragraph", f"Récapitulatif : {FIGURES}."),))
    script = build_script(article, Config())
    spec = EngineSpec(engine="piper", voice="tiny", voice_path=str(TINY_VOICE), config_path=f"{TINY_VOICE}.json")
    with SynthesisPool(spec, jobs=1) as pool:
        clips = pool.synthesize(script.utterances)
    assert len(clips) == len(script.utterances) and all(len(c.samples) > 0 for c in clips)
    assert pool.stats.synthesized == len(script.utterances)
    assert 0 < pool.stats.longest_spoken <= CAP


def _timed(calls: list, what: str, real):
    """`real`, recording (what, thread, start, end) of every call."""
    import threading
    import time

    def timed(*args, **kwargs):
        started = time.monotonic()
        try:
            return real(*args, **kwargs)
        finally:
            calls.append((what, threading.current_thread().name, started, time.monotonic()))
    return timed


def test_an_article_is_assembled_while_the_next_one_is_spoken(tmp_path, monkeypatch):
    # Several articles in one build: the voice must not wait for an episode's MP3 to be made before it speaks
    # the next article; every episode is still built, in order, and the feed lists them all.
    from audio_edition.build import run
    from audio_edition.build.run import run_build

    for name, text in ARTICLES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    calls: list = []
    monkeypatch.setattr(run, "assemble_article", _timed(calls, "assemble", run.assemble_article))
    monkeypatch.setattr(SynthesisPool, "synthesize_into", _timed(calls, "speak", SynthesisPool.synthesize_into))
    config = Config().replace("voice", voice=str(TINY_VOICE)).replace("cache", enabled=False)
    outcome = run_build(sorted(str(tmp_path / name) for name in ARTICLES), tmp_path / "out", config, jobs=1)

    assert len(outcome.episodes) == 3
    assert [e.script.article.title for e in outcome.episodes] == \
        [ARTICLES[name].split("\n")[0] for name in sorted(ARTICLES)]
    speak = [c for c in calls if c[0] == "speak"]
    assemble = [c for c in calls if c[0] == "assemble"]
    assert len(speak) == len(assemble) == 3
    assert all(thread != speak[0][1] for _, thread, _, _ in assemble), "assembly runs beside the voice"
    for k in range(2):  # article k is still being assembled when article k + 1 starts being spoken
        assert assemble[k][3] > speak[k + 1][2]
    assert (tmp_path / "out" / "feed.xml").read_text(encoding="utf-8").count("<item>") == 3


def test_when_assembly_fails_the_episodes_before_it_are_published(tmp_path, monkeypatch):
    # The second article's assembly fails while the third is spoken: the build stops with that error, and the
    # first episode, finished before, is in the feed (nothing finished is lost).
    from audio_edition.build import run
    from audio_edition.build.run import run_build
    from audio_edition.errors import AudioEditionError

    for name, text in ARTICLES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    real = run.assemble_article
    seen: list[str] = []

    def second_fails(spoken, *args, **kwargs):
        seen.append(spoken.script.article.title)
        if len(seen) == 2:
            raise AudioEditionError("disk went away", "free some space")
        return real(spoken, *args, **kwargs)

    monkeypatch.setattr(run, "assemble_article", second_fails)
    config = Config().replace("voice", voice=str(TINY_VOICE)).replace("cache", enabled=False)
    with pytest.raises(AudioEditionError, match="disk went away"):
        run_build(sorted(str(tmp_path / name) for name in ARTICLES), tmp_path / "out", config, jobs=1)
    feed = (tmp_path / "out" / "feed.xml").read_text(encoding="utf-8")
    assert feed.count("<item>") == 1 and seen[0] in feed


def test_the_voice_does_not_wait_for_the_encoders_level_check(tmp_path, monkeypatch):
    # The MP3 aims at the loudness target through LAME's own level change, measured by a test encode. The voice
    # must start speaking without waiting for it: it is measured in the background while the articles are read.
    from audio_edition.audio import ffmpeg
    from audio_edition.build.run import run_build

    (tmp_path / "piscine.txt").write_text(ARTICLES["piscine.txt"], encoding="utf-8")
    calls: list = []
    monkeypatch.setattr(ffmpeg, "mp3_gain_db", _timed(calls, "level check", ffmpeg.mp3_gain_db))
    monkeypatch.setattr(SynthesisPool, "synthesize_into", _timed(calls, "speak", SynthesisPool.synthesize_into))
    config = Config().replace("voice", voice=str(TINY_VOICE)).replace("cache", enabled=False)
    outcome = run_build([str(tmp_path / "piscine.txt")], tmp_path / "out", config, jobs=1)

    assert len(outcome.episodes) == 1
    checks = [c for c in calls if c[0] == "level check"]
    (speak,) = [c for c in calls if c[0] == "speak"]
    assert checks and all(thread != speak[1] for _, thread, _, _ in checks), "the voice waited for the check"
    (mp3,) = (tmp_path / "out").rglob("*.mp3")  # and the MP3 is still on target
    assert abs(ffmpeg.measure_file_ebur128(mp3).integrated_lufs - config.audio.target_lufs) <= 0.5


def test_work_beside_the_voice_takes_the_next_core_a_thread_gives_up():
    # Two voice threads keep both cores busy; other work (an MP3 part) asks for a core. It must get the next one a
    # thread lets go — that thread waits instead of starting its next text — and never run as a third.
    import threading
    import time

    from audio_edition.voice.pool import CoreTurns

    turns = CoreTurns(2)
    lock = threading.Lock()
    running: list[str] = []
    most = [0]
    events: list[str] = []

    def hold(who: str, seconds: float) -> None:
        with lock:
            running.append(who)
            most[0] = max(most[0], len(running))
            events.append(f"start {who}")
        time.sleep(seconds)
        with lock:
            running.remove(who)
            events.append(f"end {who}")

    def voice(name: str) -> None:
        for _ in range(30):
            with turns.voice():
                hold(name, 0.01)

    threads = [threading.Thread(target=voice, args=(f"voice {n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    with turns.other():
        hold("other", 0.1)
    for thread in threads:
        thread.join()
    assert most[0] <= 2, "a third run beside the voice's two"
    during = events[events.index("start other"):events.index("end other")]
    assert sum(event.startswith("start voice") for event in during) >= 3, "the voice stopped on both cores"
    assert any(event.startswith("start voice") for event in events[events.index("end other"):]), \
        "the other work waited for the voice to be done"
    assert sum(e.startswith("start voice") for e in events) == 60


@pytest.mark.slow
def test_the_first_mp3_parts_are_encoded_while_the_voice_speaks_on_cores_it_gives_up(tmp_path, monkeypatch):
    # On a machine the voice's threads keep busy, the episode's first MP3 parts are encoded while later sentences
    # are still being spoken — so that little is left once the last one is — each on a core a thread gives up:
    # never more runs at once than cores.
    import threading
    import time

    from audio_edition.audio.assemble import EpisodeParts
    from audio_edition.build.run import run_build
    from audio_edition.voice import pool as pool_module

    cores = pool_module.default_jobs()
    lock = threading.Lock()
    running = {"voice": 0, "mp3": 0}
    most = [0]
    times: dict[str, list[float]] = {"voice": [], "mp3": []}

    def counted(kind: str, real):
        def call(*args, **kwargs):
            with lock:
                running[kind] += 1
                most[0] = max(most[0], running["voice"] + running["mp3"])
                times[kind].append(time.monotonic())
            try:
                return real(*args, **kwargs)
            finally:
                with lock:
                    running[kind] -= 1
        return call

    real_voice = pool_module._timed_pcm16

    def as_slow_as_a_real_voice(engine, spoken):  # the tiny voice speaks far faster than the stitcher lays it
        time.sleep(0.04)
        return real_voice(engine, spoken)

    monkeypatch.setattr(pool_module, "_timed_pcm16", counted("voice", as_slow_as_a_real_voice))
    monkeypatch.setattr(EpisodeParts, "_encode_part_now", counted("mp3", EpisodeParts._encode_part_now))
    paragraphs = [f"Paragraphe {n}. La commune numéro {n} a voté son budget mardi soir, après un débat de trois "
                  f"heures. Le maire promet des travaux dans les écoles et une piscine rénovée pour l'été {2030 + n}."
                  for n in range(40)]
    (tmp_path / "long.txt").write_text("Un long conseil municipal\n\n" + "\n\n".join(paragraphs) + "\n",
                                       encoding="utf-8")
    # A voice shaped as Piper's (split: its texts are spoken in script order, and assembled as they come).
    config = Config().replace("voice", voice=str(TINY_VITS)).replace("cache", enabled=False)
    outcome = run_build([str(tmp_path / "long.txt")], tmp_path / "out", config, jobs=cores)

    (episode,) = outcome.episodes
    assert episode.duration > 240, episode.duration  # long enough for parts before the end
    assert times["mp3"] and min(times["mp3"]) < max(times["voice"]), "no MP3 part was encoded while the voice spoke"
    assert most[0] <= cores, f"{most[0]} runs at once on {cores} core(s)"

"""Speech engines: the tiny Piper voice through the real PiperVoice + onnxruntime, espeak-ng, parallel synthesis."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from conftest import TINY_VOICE, run_cli
from piper import PiperVoice

from audio_edition.config import VoiceConfig
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.models import Utterance, to_pcm16
from audio_edition.voice import piper, pool
from audio_edition.voice.engines import open_engine
from audio_edition.voice.espeak import EspeakEngine
from audio_edition.voice.piper import PiperEngine, make_session
from audio_edition.voice.pool import SynthesisPool, synthesize_clips
from audio_edition.voice.spec import EngineSpec, resolve_engine

TEXT = "Le président de la République s'exprimera ce soir à vingt heures."


def piper_spec(**settings) -> EngineSpec:
    return EngineSpec(engine="piper", voice="fr_FR-tiny-test", voice_path=str(TINY_VOICE),
                      config_path=str(TINY_VOICE) + ".json", **settings)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0


def utterances(*spoken: str) -> list[Utterance]:
    return [Utterance(index=10 + i, kind="paragraph", block=0, sentence=i, text=s, spoken=s, pause_after_ms=300)
            for i, s in enumerate(spoken)]


# --- Piper ---------------------------------------------------------------------------------------------------
def test_tiny_voice_speaks_french_through_the_real_piper_runtime():
    engine = open_engine(piper_spec(noise_scale=0.0, noise_w_scale=0.0))
    assert isinstance(engine, PiperEngine) and isinstance(engine.voice, PiperVoice)
    assert engine.sample_rate == 22050
    audio = engine.synthesize(TEXT)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 < len(audio) / engine.sample_rate < 20
    assert rms(audio) > 0.05 and np.abs(audio).max() <= 1.0
    # the audio follows the phonemes espeak gives for the French text
    other = engine.synthesize("Les marchés financiers ont chuté lundi.")
    assert len(other) != len(audio) or not np.array_equal(other[: len(audio)], audio)


def test_noise_zero_is_byte_identical_and_noise_is_not():
    quiet = [open_engine(piper_spec(noise_scale=0.0, noise_w_scale=0.0)).synthesize(TEXT) for _ in range(2)]
    assert quiet[0].tobytes() == quiet[1].tobytes()
    noisy_engine = open_engine(piper_spec(noise_scale=0.667, noise_w_scale=0.8))
    noisy = [noisy_engine.synthesize(TEXT) for _ in range(2)]
    assert noisy[0].tobytes() != noisy[1].tobytes()


def test_length_scale_changes_duration():
    normal = open_engine(piper_spec(noise_scale=0.0, length_scale=1.0)).synthesize(TEXT)
    slow = open_engine(piper_spec(noise_scale=0.0, length_scale=2.0)).synthesize(TEXT)
    assert 1.9 < len(slow) / len(normal) < 2.1


def test_per_sentence_peak_normalisation_is_off():
    # the tiny voice's tones peak at 0.3: Piper's normalize_audio would have pushed them to 1.0
    audio = open_engine(piper_spec(noise_scale=0.0)).synthesize(TEXT)
    assert 0.25 < np.abs(audio).max() < 0.35


def test_empty_text_gives_empty_audio():
    engine = open_engine(piper_spec())
    assert len(engine.synthesize("")) == 0 and len(engine.synthesize("   ")) == 0


def threads_now() -> int:
    return len(os.listdir("/proc/self/task"))


def test_sessions_use_one_thread():
    session = make_session(TINY_VOICE)
    options = session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    engine = open_engine(piper_spec())
    assert engine.voice.session.get_session_options().intra_op_num_threads == 1
    # and no thread pool appears when it runs (Piper's default session would add cores-1 threads)
    before = threads_now()
    engine.synthesize(TEXT)
    assert threads_now() <= before
    # a jobs=2 pool adds its own two threads and nothing else, even while both run the session
    most = 0
    with SynthesisPool(piper_spec(), jobs=2) as pool:
        def count(_clip) -> None:
            nonlocal most
            most = max(most, threads_now())
        pool.synthesize(utterances(*SENTENCES), on_clip=count)
        most = max(most, threads_now())
    assert before < most <= before + 2


@pytest.mark.parametrize("grown", [True, False])
def test_the_arena_is_shrunk_only_once_the_process_has_grown(monkeypatch, grown):
    # Shrinking after every run costs ~14 % of synthesis time; never shrinking lets the arena grow without bound.
    seen = []
    real_run = onnxruntime.InferenceSession.run

    def recording_run(self, output_names, input_feed, run_options=None):
        seen.append(run_options)
        return real_run(self, output_names, input_feed, run_options)

    monkeypatch.setattr(onnxruntime.InferenceSession, "run", recording_run)
    size = piper.resident_bytes()
    assert size is not None and size > 50 * 2**20  # this process, read from /proc
    # a limit under this process's size: it has "grown"; over it by a lot: it has not
    monkeypatch.setattr(piper, "ARENA_SHRINK_ABOVE_BYTES", size // 2 if grown else size * 100)
    engine = open_engine(piper_spec())
    engine.synthesize("Première phrase. Deuxième phrase, un peu plus longue. Troisième.")
    assert len(seen) == 3  # one run per sentence
    key, value = piper.ARENA_SHRINKAGE
    if grown:
        assert all(options is not None and options.get_run_config_entry(key) == value for options in seen)
        assert engine.voice.session.shrinks == 3
    else:
        assert seen == [None, None, None] and engine.voice.session.shrinks == 0


def test_engine_gives_what_piper_gives_sentence_by_sentence():
    # Phonemizing under our lock and running inference outside it must not change a sample: the same audio as
    # PiperVoice.synthesize (which phonemizes inside), joined, for several sentences and a [[phonemes]] block.
    engine = open_engine(piper_spec(noise_scale=0.0, noise_w_scale=0.0))
    text = "Le maire de [[ʁɛn]] a parlé. Les travaux commencent lundi ! Fin."
    expected = np.concatenate([c.audio_float_array for c in engine.voice.synthesize(text, engine.synthesis_config)])
    got = engine.synthesize(text)
    assert got.dtype == np.float32 and got.tobytes() == np.clip(expected, -1.0, 1.0).tobytes()


def test_voice_id_changes_with_settings_and_voice_file(tmp_path):
    a = open_engine(piper_spec(noise_scale=0.0)).voice_id
    assert a == open_engine(piper_spec(noise_scale=0.0)).voice_id
    assert a != open_engine(piper_spec(noise_scale=0.0, length_scale=1.2)).voice_id
    copy = tmp_path / "fr_FR-tiny-test.onnx"
    shutil.copy(TINY_VOICE, copy)
    config = json.loads(Path(str(TINY_VOICE) + ".json").read_text())
    config["inference"]["length_scale"] = 1.1
    (tmp_path / "fr_FR-tiny-test.onnx.json").write_text(json.dumps(config))
    changed = EngineSpec(engine="piper", voice="fr_FR-tiny-test", voice_path=str(copy),
                         config_path=str(copy) + ".json", noise_scale=0.0)
    assert open_engine(changed).voice_id != a


def test_corrupt_model_is_a_clear_error_naming_the_file(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"this is not an onnx model" * 10)
    shutil.copy(str(TINY_VOICE) + ".json", str(bad) + ".json")
    with pytest.raises(InputError, match="broken.onnx"):
        open_engine(EngineSpec(engine="piper", voice="broken", voice_path=str(bad), config_path=str(bad) + ".json"))


def test_config_that_does_not_match_the_model_is_refused(tmp_path):
    model = tmp_path / "v.onnx"
    shutil.copy(TINY_VOICE, model)
    config = json.loads(Path(str(TINY_VOICE) + ".json").read_text())
    config["num_speakers"] = 3
    (tmp_path / "v.onnx.json").write_text(json.dumps(config))
    spec = EngineSpec(engine="piper", voice="v", voice_path=str(model), config_path=str(model) + ".json")
    with pytest.raises(InputError, match="does not match"):
        open_engine(spec)
    (tmp_path / "v.onnx.json").write_text('{"audio": {}}')
    with pytest.raises(InputError, match="v.onnx.json"):
        open_engine(spec)


def test_speaker_out_of_range_is_an_input_error():
    with pytest.raises(InputError, match="speaker 3 out of range"):
        open_engine(piper_spec(speaker=3))


# --- espeak-ng -----------------------------------------------------------------------------------------------
def test_espeak_engine_speaks_french_at_22050():
    engine = open_engine(EngineSpec(engine="espeak", voice="fr"))
    assert isinstance(engine, EspeakEngine) and engine.sample_rate == 22050
    one = engine.synthesize("Bonjour, le gouvernement a présenté son budget ce matin.")
    two = engine.synthesize("Les marchés financiers ont chuté lundi à Paris.")
    assert one.dtype == np.float32 and 1.0 < len(one) / 22050 < 10
    assert rms(one) > 0.01 and rms(two) > 0.01
    assert one.tobytes() != two.tobytes()
    assert len(engine.synthesize("")) == 0


def test_espeak_rate_changes_duration():
    text = "Le conseil municipal se réunira jeudi prochain pour voter le budget."
    slow = open_engine(EngineSpec(engine="espeak", voice="fr", espeak_rate=120)).synthesize(text)
    fast = open_engine(EngineSpec(engine="espeak", voice="fr", espeak_rate=240)).synthesize(text)
    assert len(slow) > 1.4 * len(fast)


# --- choosing the engine -------------------------------------------------------------------------------------
@pytest.fixture
def no_voices(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIO_EDITION_VOICES", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def test_missing_voice_falls_back_to_espeak_loudly(no_voices, caplog):
    with caplog.at_level(logging.INFO):
        spec = resolve_engine(VoiceConfig(voice="fr_FR-siwis-medium"))
    assert spec.engine == "espeak" and spec.fallback_reason
    assert "fr_FR-siwis-medium" in spec.fallback_reason and "espeak" in spec.fallback_reason
    # logged for --debug runs; the build itself prints the reason loudly on stderr (tests/test_build_e2e.py)
    assert any("espeak" in r.getMessage() for r in caplog.records)


def test_explicit_piper_without_voice_names_where_it_looked(no_voices):
    with pytest.raises(InputError) as info:
        resolve_engine(VoiceConfig(engine="piper", voice="fr_FR-siwis-medium"))
    message = info.value.one_line()
    assert str(no_voices / "voices") in message and str(no_voices / "data") in message
    assert "audio-edition voices download fr_FR-siwis-medium" in message


def test_found_voice_means_piper_and_explicit_espeak_is_honoured(no_voices):
    (no_voices / "voices").mkdir()
    shutil.copy(TINY_VOICE, no_voices / "voices")
    shutil.copy(str(TINY_VOICE) + ".json", no_voices / "voices")
    spec = resolve_engine(VoiceConfig(voice="fr_FR-tiny-test", length_scale=1.3, speaker=0))
    assert spec.engine == "piper" and spec.fallback_reason is None
    assert Path(spec.voice_path) == no_voices / "voices" / "fr_FR-tiny-test.onnx"
    assert spec.length_scale == 1.3 and spec.speaker == 0
    assert resolve_engine(VoiceConfig(engine="espeak", voice="fr_FR-tiny-test")).engine == "espeak"


def test_missing_voice_through_the_cli_is_one_line_exit_2(tmp_path):
    result = run_cli("voices", "info", "fr_FR-nobody-medium", cwd=tmp_path,
                     env={"XDG_DATA_HOME": str(tmp_path / "data")})
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(tmp_path / "voices") in lines[0] and "voices download" in lines[0]


def test_build_with_explicit_piper_and_no_voice_is_one_line_exit_2(tmp_path):
    source = tmp_path / "article.txt"
    source.write_text("Un titre\n\nUn paragraphe de l'article, assez court.\n", encoding="utf-8")
    result = run_cli("build", str(source), "--engine", "piper", "--voice", "fr_FR-nobody-medium",
                     "--out", str(tmp_path / "out"), cwd=tmp_path, env={"XDG_DATA_HOME": str(tmp_path / "data")})
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "fr_FR-nobody-medium" in lines[0] and str(tmp_path / "voices") in lines[0]


# --- parallel synthesis --------------------------------------------------------------------------------------
SENTENCES = (
    "Le Premier ministre a présenté son plan mardi.",
    "",
    "Les syndicats appellent à la grève.",
    "La réforme sera examinée au Sénat en juin.",
    "Fin de l'article.",
)


def test_jobs_2_gives_the_same_clips_in_the_same_order_as_jobs_1():
    spec = piper_spec(noise_scale=0.0, noise_w_scale=0.0)
    items = utterances(*SENTENCES)
    serial = synthesize_clips(items, spec, jobs=1)
    seen = []
    parallel = synthesize_clips(items, spec, jobs=2, on_clip=lambda c: seen.append(c.utterance))
    assert [c.utterance for c in serial] == [u.index for u in items] == [c.utterance for c in parallel]
    assert sorted(seen) == [u.index for u in items]
    for a, b in zip(serial, parallel):
        assert a.sample_rate == b.sample_rate == 22050
        assert a.samples.dtype == b.samples.dtype == np.int16  # clips carry 16-bit PCM
        assert a.samples.tobytes() == b.samples.tobytes()
    # the very samples the engine gives, converted once to 16-bit
    assert serial[0].samples.tobytes() == to_pcm16(open_engine(spec).synthesize(SENTENCES[0])).tobytes()
    assert len(serial[1].samples) == 0 and serial[1].duration == 0.0
    assert all(len(c.samples) > 0 for i, c in enumerate(serial) if i != 1)


def test_pool_is_reused_across_articles():
    spec = piper_spec(noise_scale=0.0)
    with SynthesisPool(spec, jobs=2) as pool:
        first = pool.synthesize(utterances("Premier article."))
        second = pool.synthesize(utterances("Second article, un peu plus long."))
        assert len(first) == len(second) == 1 and len(second[0].samples) > len(first[0].samples)
        assert pool.voice_id == open_engine(spec).voice_id and pool.sample_rate == 22050


def test_bad_voice_fails_before_any_worker_starts(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\0" * 100)
    shutil.copy(str(TINY_VOICE) + ".json", str(bad) + ".json")
    spec = EngineSpec(engine="piper", voice="broken", voice_path=str(bad), config_path=str(bad) + ".json")
    with pytest.raises(AudioEditionError, match="broken.onnx"):
        synthesize_clips(utterances("Bonjour."), spec, jobs=2)


def test_piper_pool_shares_one_engine_between_threads_that_really_run_at_once(monkeypatch):
    # Both threads must be inside the session's run at the same moment: the barrier breaks (and the test fails)
    # if anything serialised the calls, e.g. a lock held around inference.
    barrier = threading.Barrier(2, timeout=10)
    entered = iter(range(1_000_000))  # next() on it is atomic under the GIL: numbers each run as it enters
    inside: list[tuple[str, float, float]] = []
    real_run = piper.ShrinkingSession.run

    def meeting_run(self, output_names, input_feed, run_options=None):
        started = time.perf_counter()
        if next(entered) < 2:  # the first two runs wait for each other
            barrier.wait()
        result = real_run(self, output_names, input_feed, run_options)
        inside.append((threading.current_thread().name, started, time.perf_counter()))
        return result

    monkeypatch.setattr(piper.ShrinkingSession, "run", meeting_run)
    items = utterances(*SENTENCES)
    with SynthesisPool(piper_spec(noise_scale=0.0, noise_w_scale=0.0), jobs=2) as pool:
        assert pool.uses_threads
        clips = pool.synthesize(items)
        assert not multiprocessing.active_children(), "a Piper pool must not start worker processes"
        assert pool.stats.engines_opened == 1 and pool.stats.synthesized == 4
        assert pool.stats.engine_seconds > 0 and pool.stats.longest_spoken == max(map(len, SENTENCES))
        first, second = sorted(inside, key=lambda run: run[1])[:2]
        assert first[0] != second[0] and second[1] < first[2], "the first two runs did not overlap"
        assert len(inside) == 4 and all(name.startswith("synthesis") for name, *_ in inside)  # not the caller
        pool.release()  # memory back: the engine and its threads are gone, a later miss opens it again
        assert pool._engine is None and pool._threads is None
        again = pool.synthesize(items[:1])
        assert pool.stats.engines_opened == 2
    assert [c.utterance for c in clips] == [u.index for u in items]
    assert again[0].samples.tobytes() == clips[0].samples.tobytes()


def test_a_voice_opened_ahead_is_the_one_the_pool_speaks_with(monkeypatch):
    # The build opens the voice while it reads its articles: the pool must take that engine (one load, not two),
    # and speak exactly as with a voice it opened itself.
    opened: list[str] = []
    real_init = PiperEngine.__init__

    def counted(self, spec):
        opened.append(threading.current_thread().name)
        real_init(self, spec)

    monkeypatch.setattr(PiperEngine, "__init__", counted)
    spec = piper_spec(noise_scale=0.0, noise_w_scale=0.0)
    items = utterances(*SENTENCES[:2])
    pool.open_ahead(spec, jobs=2)
    pool.open_ahead(spec, jobs=2)  # asked twice: still opened once
    with SynthesisPool(spec, jobs=2) as ahead:
        clips = ahead.synthesize(items)
        assert ahead.stats.engines_opened == 1
    assert opened == ["open voice"], "the pool opened the voice again instead of taking the one opened ahead"
    with SynthesisPool(spec, jobs=2) as itself:  # nothing opened ahead any more: the pool opens its own
        again = itself.synthesize(items)
    assert opened == ["open voice", "MainThread"]
    assert [c.samples.tobytes() for c in clips] == [c.samples.tobytes() for c in again]


def test_a_voice_that_cannot_open_ahead_fails_in_the_pool_in_one_line(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\0" * 100)
    shutil.copy(str(TINY_VOICE) + ".json", str(bad) + ".json")
    spec = EngineSpec(engine="piper", voice="broken", voice_path=str(bad), config_path=str(bad) + ".json")
    pool.open_ahead(spec, jobs=1)
    with pytest.raises(AudioEditionError, match="broken.onnx"), SynthesisPool(spec, jobs=1) as failing:
        failing.synthesize(utterances("Bonjour."))
    assert spec not in pool._AHEAD


def test_a_voice_opened_ahead_and_not_needed_is_let_go():
    spec = piper_spec()
    pool.open_ahead(spec, jobs=2)
    ahead = pool._AHEAD[spec]
    pool.drop_opened_ahead()
    assert not pool._AHEAD and not ahead.thread.is_alive()
    pool.open_ahead(EngineSpec(engine="espeak", voice="fr"), jobs=2)  # worker processes open their own
    assert not pool._AHEAD


def test_an_engine_error_in_a_thread_is_raised_with_its_hint_and_the_pool_keeps_working(monkeypatch):
    real = PiperEngine.synthesize

    def failing(self, spoken):
        if "grève" in spoken:
            raise AudioEditionError("Piper failed on voice tiny: boom", "check the voice")
        return real(self, spoken)

    monkeypatch.setattr(PiperEngine, "synthesize", failing)
    with SynthesisPool(piper_spec(), jobs=2) as pool:
        with pytest.raises(AudioEditionError, match="boom") as info:
            pool.synthesize(utterances(*SENTENCES))
        assert info.value.hint == "check the voice"
        assert len(pool.synthesize(utterances("Une phrase qui passe."))) == 1


def test_espeak_keeps_a_process_pool_and_gives_the_same_clips_as_jobs_1():
    spec = EngineSpec(engine="espeak", voice="fr")
    items = utterances("Bonjour à tous.", "Le budget a été voté hier soir.", "", "Fin de l'article.")
    serial = synthesize_clips(items, spec, jobs=1)
    with SynthesisPool(spec, jobs=2) as pool:
        assert not pool.uses_threads
        parallel = pool.synthesize(items)
        workers = multiprocessing.active_children()
        assert 1 <= len(workers) <= 2, "espeak (one global synthesiser) runs in worker processes"
    assert [c.utterance for c in parallel] == [u.index for u in items]
    assert all(c.samples.dtype == np.int16 for c in serial + parallel)
    # espeak-ng is not sample-exact from one call to the next, even in one process (a few samples of difference):
    # the same clips here means the same text at the same place, with the same duration to within 1%.
    for a, b in zip(serial, parallel):
        assert abs(len(a.samples) - len(b.samples)) <= 0.01 * len(a.samples)
    assert len(parallel[1].samples) > len(parallel[0].samples) > 0 and len(parallel[2].samples) == 0


def test_threads_never_speak_more_text_at_once_than_the_memory_budget():
    # A run's memory grows with its audio: two of the heaviest texts must never be spoken at the same moment.
    lengths = [300, 290, 280, 40, 150, 120, 60, 260, 30, 10, 200, 140]
    work = pool._SharedWork([(n, "x" * size, size) for n, size in enumerate(lengths)], threads=2)
    assert work.budget == 450
    seen_at_once, taken, lock = [], [], threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if len(taken) == len(lengths):
                    return
                taken.append(None)
            item = work.take()
            seen_at_once.append(work.in_flight)
            time.sleep(0.002 * item[2] / 10)  # heavier texts take longer, as they do
            work.finished(item)
            with lock:
                taken[taken.index(None)] = item[0]

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(taken) == list(range(len(lengths)))  # every text spoken once
    assert max(seen_at_once) <= 450 and max(seen_at_once) > 300  # the budget bound, and it was used
    assert work.in_flight == 0 and not work.waiting


def test_a_text_weighs_its_phonemes_not_its_characters():
    # Spelled-out figures are short to write and long to say: the memory gate must see them as heavy.
    engine = open_engine(piper_spec())
    plain = "Le conseil municipal se réunira demain soir."
    figures = "mille neuf cent quatre-vingt-dix-neuf virgule quatre-vingt-dix-sept"
    for text in (plain, figures, "1999,97 %"):
        assert engine.cost(text) == sum(len(p) for p in engine.voice.phonemize(text)) > 0
    assert engine.cost("1999,97 %") > 3 * len("1999,97 %")  # nine characters, dozens of sounds
    assert engine.cost("Un. Deux.") == engine.cost("Un.") + engine.cost("Deux.")  # every sentence counts
    # the phonemes found for the cost are the ones spoken: same audio as without asking the cost first
    spec = piper_spec(noise_scale=0.0, noise_w_scale=0.0)
    asked = open_engine(spec)
    asked.cost(plain)
    assert asked.synthesize(plain).tobytes() == open_engine(spec).synthesize(plain).tobytes()
    assert not asked._phonemized  # nothing kept once spoken

"""A Piper VITS voice cut into encoder + decoder, the decoder run window by window (voice_graph), through
PiperVoice and onnxruntime for real, on a tiny random-weight VITS made by piper.train.vits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import TINY_VITS, TINY_VITS_2_SPEAKERS, TINY_VOICE, run_cli
from piper import PiperVoice

from audio_edition.models import Utterance, to_pcm16
from audio_edition.voice import graph, piper
from audio_edition.voice import pool as synthesis_pool
from audio_edition.voice.engines import open_engine
from audio_edition.voice.graph import WINDOW_FRAMES, NotSplittable, decode_in_windows, split_voice, window_bounds
from audio_edition.voice.piper import SplitSession, make_session
from audio_edition.voice.pool import SynthesisPool
from audio_edition.voice.spec import EngineSpec

# long enough for several decoder windows (about 2,000 latent frames at this voice's length scale)
LONG = ("Le gouvernement a présenté mercredi un projet de loi qui réforme l'assurance chômage, en réduisant la "
        "durée d'indemnisation des demandeurs d'emploi de plus de cinquante-cinq ans, une mesure que les "
        "syndicats jugent injuste et que le patronat salue comme un encouragement au retour à l'emploi. "
        "Le texte sera examiné à l'Assemblée nationale à partir du douze décembre, en procédure accélérée.")


def spec(voice: Path, **settings) -> EngineSpec:
    return EngineSpec(engine="piper", voice=voice.stem, voice_path=str(voice), config_path=f"{voice}.json",
                      noise_scale=0.0, noise_w_scale=0.0, **settings)  # no noise: the same audio every run


def decoder_runs(split):
    """One `run(piece, bounds)` per part of the decoder."""
    def part_run(model: bytes, name: str):
        session = make_session(TINY_VITS, model_bytes=model)
        return lambda piece, bounds: session.run(None, {name: piece, **bounds})[0]

    return [part_run(model, layout.latent_name) for model, layout in zip(split.decoders, split.layouts)]


def latent_frames(split, text_ids: int = 400) -> np.ndarray:
    encoder = make_session(TINY_VITS, model_bytes=split.encoder)
    ids = np.random.default_rng(3).integers(1, 150, size=(1, text_ids))
    feeds = {"input": ids, "input_lengths": np.array([text_ids]),
             "scales": np.array([0.0, 1.5, 0.0], dtype=np.float32)}
    return encoder.run(None, feeds)[0]


def test_a_vits_voice_is_cut_where_its_hifigan_decoder_starts():
    split = split_voice(TINY_VITS.read_bytes())
    config = json.loads(Path(f"{TINY_VITS}.json").read_text())
    first, second = split.layouts
    assert second.hop == config.get("hop_length", 256) == 256  # 8 x 8 x 4 upsampling
    encoder = onnx.load_from_string(split.encoder)
    assert [i.name for i in encoder.graph.input] == ["input", "input_lengths", "scales"]
    # the first part ends before the second upsampling, where the rest reaches 2 frames (it needs 10 or more)
    assert [cut.rate for cut in first.cuts] == [1, 8] and first.cuts[-1].reach == 0 and first.hop == 8
    first_output = onnx.load_from_string(split.decoders[0]).graph.output[0].name
    assert first_output == f"{second.latent_name}__cut" and second.input_rate == first.hop == 8
    assert second.context == 2 < first.context
    # the second part is cut before each of its upsamplings and at the audio: the reach shrinks as the rate grows
    assert [(cut.rate, cut.reach) for cut in second.cuts][-1] == (256, 0)
    assert [cut.rate for cut in second.cuts] == [8, 64, 256]
    reach_in_frames = [cut.reach / cut.rate for cut in second.cuts]
    assert reach_in_frames == sorted(reach_in_frames, reverse=True) and reach_in_frames[0] <= second.context
    for model, layout in zip(split.decoders, split.layouts):
        decoder = onnx.load_from_string(model)
        assert [i.name for i in decoder.graph.input] == [layout.latent_name] + [
            name for cut in layout.cuts for name in (cut.start_input, cut.end_input)]
        convolutions = [n for n in decoder.graph.node if n.op_type in ("Conv", "ConvTranspose")]
        weights = {i.name: i for i in decoder.graph.initializer}
        assert len(convolutions) >= 5 and all(len(weights[n.input[1]].dims) == 4 for n in convolutions)  # 2-D
        onnx.checker.check_model(decoder)
    assert not any(n.op_type in ("Conv", "ConvTranspose") for n in encoder.graph.node
                   if n.name.startswith("/dec/"))  # the decoder is not run twice
    encoder_weights = {i.name: i for i in encoder.graph.initializer}
    readers = [name for n in encoder.graph.node for name in n.input]
    # (a weight the exported graph also copies elsewhere, through an Identity, is left as it is)
    encoder_convolutions = [n for n in encoder.graph.node if n.op_type == "Conv" and n.input[1] in encoder_weights
                            and readers.count(n.input[1]) == 1]
    assert len(encoder_convolutions) >= 50 and all(len(encoder_weights[n.input[1]].dims) == 4
                                                   for n in encoder_convolutions)  # the encoder's too
    onnx.checker.check_model(encoder)


def transposed_convolution(kernel: int, stride: int, pads: tuple[int, int], bias: bool, group: int = 1):
    """A one-node model y = ConvTranspose(x) on [1, 6, length], random weights, and the node and weights."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(kernel * 100 + stride * 10 + sum(pads))
    weights = [numpy_helper.from_array(rng.standard_normal((6, 4 // group, kernel)).astype(np.float32), "w")]
    if bias:
        weights.append(numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b"))
    node = helper.make_node("ConvTranspose", ["x", "w", *(["b"] if bias else [])], ["y"], name="up",
                            kernel_shape=[kernel], strides=[stride], pads=list(pads), group=group)
    io = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, None])
          for name, channels in (("x", 6), ("y", 4))]
    model = helper.make_model(helper.make_graph([node], "up", io[:1], io[1:], weights),
                              opset_imports=[helper.make_opsetid("", 17)])
    return model, node, {w.name: w for w in weights}


@pytest.mark.parametrize("kernel, stride, pads, bias", [
    (16, 8, (4, 4), True),  # HiFi-GAN's: kernel twice the stride, a quarter of it padded on each side
    (8, 4, (2, 2), False),
    (3, 2, (1, 0), True),  # kernel not a multiple of the stride, padding on one side
    (5, 3, (0, 0), True),
    (2, 3, (0, 1), True),  # shorter than the stride: gaps between the phases
    (4, 1, (1, 2), False),  # no upsampling at all
])
def test_an_upsampling_computed_by_phases_gives_what_onnxruntime_transposed_convolution_gives(
        kernel, stride, pads, bias):
    from onnx import helper, numpy_helper

    model, node, weights = transposed_convolution(kernel, stride, pads, bias)
    nodes, initializers = graph._by_phases(node, weights)
    assert "ConvTranspose" not in {n.op_type for n in nodes}
    axis = numpy_helper.from_array(np.array([2], dtype=np.int64), "height")
    nodes = [helper.make_node("Unsqueeze", ["x", "height"], ["x2"]), *nodes]
    nodes[1].input[0] = "x2"
    nodes[-1].output[0] = "y2"
    nodes.append(helper.make_node("Squeeze", ["y2", "height"], ["y"]))
    rewritten = helper.make_model(helper.make_graph(nodes, "phases", model.graph.input, model.graph.output,
                                                    [*initializers, axis]), opset_imports=model.opset_import)
    onnx.checker.check_model(rewritten)
    reference = make_session(TINY_VITS, model_bytes=model.SerializeToString())
    phased = make_session(TINY_VITS, model_bytes=rewritten.SerializeToString())
    for length in (1, 2, 37):
        x = np.random.default_rng(length).standard_normal((1, 6, length)).astype(np.float32)
        expected = reference.run(None, {"x": x})[0]
        got = phased.run(None, {"x": x})[0]
        assert got.shape == expected.shape == (1, 4, (length - 1) * stride + kernel - sum(pads))
        assert np.abs(got - expected).max() < 1e-5 * max(1.0, float(np.abs(expected).max()))


def test_a_grouped_upsampling_is_left_to_onnxruntime():
    _, node, weights = transposed_convolution(4, 2, (1, 1), True, group=2)
    assert graph._by_phases(node, weights) is None


def test_the_decoder_upsamples_by_phases_and_gives_the_whole_models_samples():
    parts = [onnx.load_from_string(model) for model in split_voice(TINY_VITS.read_bytes()).decoders]
    ops = [n.op_type for part in parts for n in part.graph.node]
    assert "ConvTranspose" not in ops and ops.count("Transpose") == 3  # the voice's three upsamplings
    # that the samples are the whole model's: test_split_engine_gives_what_the_whole_model_gives_through_piper


def _encoders(voice: Path, corrupt: bool = False) -> tuple[bytes, bytes, list]:
    """The voice's encoder as exported and with its attention on the band (`corrupt`: the keys' band moved by one
    position, as an off-by-one in the skew would), and the rewrite's initializers."""
    model = onnx.load(str(voice))
    nodes = list(model.graph.node)
    initializers = {init.name: init for init in model.graph.initializer}
    latent, _ = graph._decoder_ends(model.graph, nodes, {out: n for n in nodes for out in n.output})
    encoder = [nodes[i] for i in sorted(graph._ancestors(nodes, latent))]
    banded, weights = graph._banded_attention(encoder, initializers)
    if corrupt:
        weights = [onnx.numpy_helper.from_array(np.roll(onnx.numpy_helper.to_array(w), 1, axis=-1), w.name)
                   if w.name.endswith("__c_band") and "MatMul_1" in w.name else w for w in weights]
    banded = [banded[i] for i in sorted(graph._ancestors(banded, latent))]
    output = [graph._float_value(latent, 3)]
    return (graph._submodel(model, encoder, list(model.graph.input), output),
            graph._submodel(model, banded, list(model.graph.input), output, replaced=weights), weights)


def test_the_text_encoders_attention_is_computed_on_its_band_with_the_same_sums():
    # Relative attention as exported multiplies each query by embeddings padded to 2T - 1 positions, 2w + 1 of them
    # non-zero; on the band only, the latent frames must be the same, for sentences shorter than the window too.
    exported, banded, weights = _encoders(TINY_VITS)
    assert weights
    ops = [node.name for node in onnx.load_from_string(banded).graph.node]
    layers = sum(1 for init in onnx.load(str(TINY_VITS)).graph.initializer if init.name.endswith("emb_rel_k"))
    assert layers >= 1 and sum(name.endswith(("__logits", "__values")) for name in ops) == 2 * layers
    sessions = [make_session(TINY_VITS, model_bytes=model) for model in (exported, banded)]
    for length in (1, 2, 4, 5, 9, 40, 130):
        feeds = {"input": np.random.default_rng(length).integers(1, 150, size=(1, length)),
                 "input_lengths": np.array([length]), "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32)}
        expected, got = (session.run(None, feeds)[0] for session in sessions)
        assert expected.shape == got.shape and np.allclose(expected, got, rtol=1e-5, atol=1e-6), length
    assert graph._same_latent(exported, banded)
    # the check split_voice makes before keeping the rewrite sees a band laid one position off
    assert not graph._same_latent(*_encoders(TINY_VITS, corrupt=True)[:2])
    # and the kept encoder is the banded one
    kept = [node.name for node in onnx.load_from_string(split_voice(TINY_VITS.read_bytes()).encoder).graph.node]
    assert sum(name.endswith(("__logits", "__values")) for name in kept) == 2 * layers


def test_an_attention_rewrite_the_check_refuses_is_not_kept(monkeypatch):
    monkeypatch.setattr(graph, "_same_latent", lambda original, rewritten: False)
    kept = [node.name for node in onnx.load_from_string(split_voice(TINY_VITS.read_bytes()).encoder).graph.node]
    assert not any(name.endswith(("__logits", "__values")) for name in kept)


@pytest.mark.parametrize("part", [0, 1])
def test_windows_give_the_samples_of_one_run_and_the_context_is_what_makes_it_so(part):
    split = split_voice(TINY_VITS.read_bytes())
    runs, signal = decoder_runs(split), latent_frames(split)
    frames = signal.shape[2]
    for layout, run in list(zip(split.layouts, runs))[:part]:  # the part's input: what the parts before give
        signal = run(signal, window_bounds(layout, 0, 0, frames))
    layout, run = split.layouts[part], runs[part]
    assert frames > 6 * 50 and signal.shape[-1] == frames * layout.input_rate
    whole = run(signal, window_bounds(layout, 0, 0, frames))
    windowed = decode_in_windows(run, signal, layout, window=50)
    assert windowed.shape == whole.shape and whole.shape[-1] == frames * layout.hop
    assert np.abs(windowed - whole).max() < 1e-5 * np.abs(whole).max()
    # the same windows without their context are audibly wrong at every seam: the check above can fail
    no_context = dataclasses.replace(layout, context=0)
    assert np.abs(decode_in_windows(run, signal, no_context, window=50) - whole).max() > 0.01 * np.abs(whole).max()
    # and every cut keeps what the stages after it need: one that keeps nothing beyond the window is wrong too
    for index, cut in enumerate(layout.cuts[:-1]):
        cuts = list(layout.cuts)
        cuts[index] = dataclasses.replace(cut, reach=0)
        short = dataclasses.replace(layout, cuts=tuple(cuts))
        error = np.abs(decode_in_windows(run, signal, short, window=50) - whole).max()
        assert error > 0.01 * np.abs(whole).max(), index


def test_split_engine_gives_what_the_whole_model_gives_through_piper():
    engine = open_engine(spec(TINY_VITS))
    assert isinstance(engine.voice, PiperVoice) and isinstance(engine.voice.session, SplitSession)
    assert engine.bounded_runs
    split_audio = engine.synthesize(LONG)
    whole = PiperVoice(session=make_session(TINY_VITS), config=engine.voice.config)
    whole_audio = np.concatenate([whole.phoneme_ids_to_audio(whole.phonemes_to_ids(p), engine.synthesis_config)
                                  for p in whole.phonemize(LONG)])
    assert len(split_audio) == len(whole_audio) > 2 * WINDOW_FRAMES * 256  # several windows
    assert np.abs(split_audio - whole_audio).max() < 1e-4
    assert np.sqrt(np.mean(split_audio ** 2)) > 0.01  # it is not silence that matches silence


def test_no_decoder_run_grows_with_the_sentence(monkeypatch):
    # What bounds a run's memory: the decoder never gets more than a window and its context, however long the
    # sentence (a whole-model run of a 20-second sentence holds ~330 MB on a medium voice).
    engine = open_engine(spec(TINY_VITS))
    session = engine.voice.session
    sizes: list[list[int]] = [[] for _ in session.layouts]  # frames given to each run, by part
    given: list[list[int]] = [[] for _ in session.layouts]  # samples each run gives back

    def recording(part: int, layout, real_run):
        def recording_run(output_names, feeds, run_options=None):
            sizes[part].append(feeds[layout.latent_name].shape[-1] // layout.input_rate)
            outputs = real_run(output_names, feeds, run_options)
            given[part].append(outputs[0].shape[-1])
            return outputs
        return recording_run

    for part, (decoder, layout) in enumerate(zip(session.decoders, session.layouts)):
        monkeypatch.setattr(decoder.session, "run", recording(part, layout, decoder.session.run))
    audio = engine.synthesize(LONG)
    sentences = len(engine.voice.phonemize(LONG))
    assert len(audio) % 256 == 0
    for part, layout in enumerate(session.layouts):
        assert len(sizes[part]) >= sentences + 1 and max(sizes[part]) <= layout.window + 2 * layout.context
        # what is decoded twice is the context around each seam between two windows of a sentence (2 x context
        # frames at most: less where the sentence ends within the context), nothing else
        decoded_twice = sum(sizes[part]) - len(audio) // 256
        assert 0 < decoded_twice <= 2 * layout.context * (len(sizes[part]) - sentences)
        # each run gives back its window's samples alone (the context is sliced away inside the decoder)
        assert sum(given[part]) == len(audio) // 256 * layout.hop
    assert len(sizes[1]) > len(sizes[0])  # the second part's windows are the shorter


def test_a_pool_on_a_split_voice_lets_the_longest_sentences_run_together():
    # The phoneme-weighted memory gate is for whole-model runs; a split voice's runs are bounded, so two long
    # sentences may run at once and the pool keeps every clip in order.
    texts = [LONG, "Bonjour.", LONG.upper(), "Une phrase de longueur moyenne pour finir."]
    items = [Utterance(index=i, kind="paragraph", block=0, sentence=i, text=t, spoken=t, pause_after_ms=300)
             for i, t in enumerate(texts)]
    with SynthesisPool(spec(TINY_VITS), jobs=2) as pool:
        clips = pool.synthesize(items)
    alone = open_engine(spec(TINY_VITS))
    for clip, text in zip(clips, texts):
        assert np.array_equal(clip.samples, to_pcm16(alone.synthesize(text)))
    work = synthesis_pool._SharedWork([(0, "a", 500), (1, "b", 480)], threads=2, bounded_runs=True)
    assert work.take()[2] == 500 and work.take()[2] == 480  # both in flight: no gate
    # and in script order, not longest first: the episode is assembled as the clips come
    work = synthesis_pool._SharedWork([(0, "a", 10), (1, "b", 500), (2, "c", 20)], threads=2, bounded_runs=True)
    assert [work.take()[0] for _ in range(3)] == [0, 1, 2]


@pytest.mark.parametrize("voice, reason", [
    (TINY_VITS_2_SPEAKERS, "convolution before the first upsampling"),  # decoder conditioned on the speaker
    (TINY_VOICE, "no upsampling convolution"),  # not a VITS graph at all
])
def test_voices_we_cannot_cut_run_whole(voice, reason, caplog):
    with pytest.raises(NotSplittable, match=reason):
        split_voice(voice.read_bytes())
    engine = open_engine(spec(voice, speaker=1) if voice == TINY_VITS_2_SPEAKERS else spec(voice))
    assert isinstance(engine.voice.session, piper.ShrinkingSession) and not engine.bounded_runs
    assert len(engine.synthesize("Bonjour à tous.")) > 0


def test_the_two_speakers_of_a_whole_run_voice_still_differ():
    first = open_engine(spec(TINY_VITS_2_SPEAKERS, speaker=0)).synthesize("Bonjour à tous.")
    second = open_engine(spec(TINY_VITS_2_SPEAKERS, speaker=1)).synthesize("Bonjour à tous.")
    assert len(first) == len(second) and not np.allclose(first, second)


def test_the_cut_is_kept_and_reused_and_a_damaged_one_is_cut_again(monkeypatch):
    first = open_engine(spec(TINY_VITS))
    reference = first.synthesize(LONG)
    parts = piper._voice_parts_dir(TINY_VITS)
    assert parts is not None and (parts / "layout.json").is_file() and (parts / "decoder-1.onnx").is_file()

    def no_cutting(_model: bytes):
        raise AssertionError("the voice was cut again although its parts are kept")

    monkeypatch.setattr(graph, "split_voice", no_cutting)
    again = open_engine(spec(TINY_VITS))
    assert isinstance(again.voice.session, SplitSession)
    assert np.array_equal(again.synthesize(LONG), reference)

    (parts / "decoder-1.onnx").write_bytes(b"not a model")  # damaged on disk: cut again, never played
    monkeypatch.undo()
    repaired = open_engine(spec(TINY_VITS))
    assert isinstance(repaired.voice.session, SplitSession)
    assert np.array_equal(repaired.synthesize(LONG), reference)
    assert onnx.load(str(parts / "decoder-1.onnx")).graph.node  # kept again, whole


def test_a_voice_that_cannot_be_cut_is_remembered_as_whole():
    open_engine(spec(TINY_VITS_2_SPEAKERS, speaker=0))
    parts = piper._voice_parts_dir(TINY_VITS_2_SPEAKERS)
    assert json.loads((parts / "layout.json").read_text())["whole"]
    assert not (parts / "encoder.onnx").exists()
    engine = open_engine(spec(TINY_VITS_2_SPEAKERS, speaker=0))
    assert isinstance(engine.voice.session, piper.ShrinkingSession) and len(engine.synthesize("Bonjour.")) > 0


def test_cache_info_shows_the_kept_parts_and_cache_clear_removes_them(tmp_path):
    open_engine(spec(TINY_VITS))  # cut and kept (in this test session's private cache dir)
    info = run_cli("cache", "info", "--cache-dir", str(tmp_path / "clips"))
    assert info.code == 0, info.stderr
    line = next(line for line in info.stdout.splitlines() if line.startswith("voice parts:"))
    assert int(line.split()[2]) >= 1 and str(piper.voice_parts_root()) in line
    assert any(line.startswith("language model: ") for line in info.stdout.splitlines())
    cleared = run_cli("cache", "clear", "--cache-dir", str(tmp_path / "clips"))
    assert cleared.code == 0 and "voice(s)" in cleared.stdout
    assert not piper.voice_parts_root().exists()
    engine = open_engine(spec(TINY_VITS))  # cut again on the next open
    assert isinstance(engine.voice.session, SplitSession) and piper._voice_parts_dir(TINY_VITS).is_dir()

"""A Piper voice's ONNX graph cut up: the encoder, and a decoder in two parts, each run window by window.

A Piper voice is VITS: an encoder (text encoder, duration predictor, flow) turns phonemes into latent frames, one
per `hop` samples of audio, and a HiFi-GAN decoder, nothing but convolutions, turns the frames into audio. The
decoder does ~2/3 of the work and, on a whole sentence, holds most of the memory (~330 MB for a 20-second sentence
on a medium voice, two of them at once with two threads). So:

- the decoder runs on windows of frames plus its receptive field on each side (`context`), and only the window's
  own samples are kept: a convolution network's output depends only on its receptive field, so the audio is the
  same samples (tests compare with the whole model) and a run's memory no longer grows with the sentence;
- the context is cut down stage by stage: before each upsampling, the graph keeps only what the rest of the
  decoder reaches (a Slice whose bounds are inputs, `DecoderCut`). The high-rate stages, where most of the work is,
  reach less than a frame or two, so they no longer recompute the whole context of every window;
- the decoder is two models, cut before its second upsampling: the first part, whose stages reach ~12 frames,
  runs on long windows (`FIRST_WINDOW_FRAMES`), so that little of it is computed twice; the rest reaches 2 frames
  and runs on short windows (`WINDOW_FRAMES`), whose tensors stay in the core's cache. The first part's output
  for the whole sentence (~4 kB a frame) is the second part's input;
- its 1-D convolutions, and the encoder's, become 2-D convolutions of height 1: onnxruntime's blocked (NCHWc) CPU
  kernels only exist for 2-D convolutions (faster, the same output to float precision: docs/speed.md);
- its upsamplings (transposed convolutions) become convolutions at the input's rate whose channels are the
  phases of each output sample, then interleaved: the same sums on those faster kernels (`_by_phases`);
- the text encoder's relative attention is computed on its band of 2w + 1 positions instead of on embeddings
  padded to the whole sentence (`_banded_attention`), kept only if the encoder's output is the same
  (`_same_latent`).

Anything that does not look like that (a multi-speaker decoder conditioned on the speaker, an unknown operator in
the decoder, a graph without a HiFi-GAN upsampler) is left whole: `split_voice` says why and returns None, and the
voice is run as one model, as piper does.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# Frames per decoder run, in the decoder's two parts (the measurements: docs/speed.md, "Constants and their
# measurements"). The first part (up to the second upsampling) needs ~15 frames of context on each side: long
# windows, so that little is computed twice. The rest reaches 2 frames: short windows, whose tensors stay in the
# core's cache.
FIRST_WINDOW_FRAMES = 200
WINDOW_FRAMES = 50
# What may sit between the decoder's convolutions. All act sample by sample, so they work on 2-D tensors as on 1-D.
_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "LeakyRelu", "Relu", "Tanh", "Identity"}
# What may sit between the decoder's final Tanh and the model's output (piper adds a channel axis).
_RESHAPES = {"Unsqueeze", "Squeeze", "Reshape", "Identity"}
_CONVOLUTIONS = {"Conv", "ConvTranspose"}


@dataclass(frozen=True)
class DecoderCut:
    """A point inside the decoder where every path to the audio goes through one tensor: the graph slices that
    tensor's time axis there, between the bounds it is fed (`start_input`, `end_input`)."""

    rate: int  # the tensor's samples per latent frame
    reach: int  # samples of it on each side that the audio of one of its samples depends on
    start_input: str
    end_input: str


@dataclass(frozen=True)
class DecoderLayout:
    """What running the decoder in windows needs to know."""

    latent_name: str  # the part's input: the latent frames, or the first part's output
    hop: int  # samples of the part's output per latent frame (the audio's: product of the upsampling strides)
    context: int  # frames needed on each side of a window for its samples to come out exactly as in one run
    # In graph order; the last one is the part's output (reach 0: a run gives only the window's samples).
    cuts: tuple[DecoderCut, ...] = ()
    input_rate: int = 1  # samples of the part's input per latent frame
    window: int = WINDOW_FRAMES  # frames per run

    def __post_init__(self) -> None:  # read back from JSON, the cuts are dicts
        object.__setattr__(self, "cuts", tuple(cut if isinstance(cut, DecoderCut) else DecoderCut(**cut)
                                               for cut in self.cuts))


@dataclass(frozen=True)
class SplitVoice:
    """The encoder and the decoder's parts, serialised for onnxruntime (drop them once the sessions are made:
    ~the voice's size). The decoder's parts run one after the other, each in windows of its own."""

    encoder: bytes  # the voice's inputs -> latent frames [1, channels, frames]
    # latent frames -> ... -> audio [1, 1, frames * hop]: the first part's output [1, channels, 1, samples] is the
    # second's input
    decoders: tuple[bytes, ...]
    layouts: tuple[DecoderLayout, ...]


class NotSplittable(Exception):
    """The graph is not the encoder + HiFi-GAN decoder we know how to cut (the message says what differs)."""


def split_voice(model_bytes: bytes) -> SplitVoice:
    """Cut a Piper voice model; NotSplittable if its graph is not what we expect."""
    import onnx  # lazy: onnx is slow to load: only when a voice is cut into its parts (once per voice)

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    nodes = list(graph.node)  # ONNX graphs are stored in topological order
    producer = {out: node for node in nodes for out in node.output}
    initializers = {init.name: init for init in graph.initializer}
    constants = {node.output[0]: node for node in nodes if node.op_type == "Constant"}

    latent, tanh = _decoder_ends(graph, nodes, producer)
    region = _between(nodes, latent, tanh.output[0])
    _check_self_contained(region, latent, tanh.output[0], nodes, initializers, constants)
    hop, context = _hop_and_context(region, latent, tanh.output[0], initializers)
    if _opset(model) < 10:
        raise NotSplittable("opset below 10 (Slice takes no bounds as inputs)")
    # before each upsampling: the stages after it run at 8, 64, 256 samples per frame and reach little
    cut_tensors = [node.input[0] for node in region if node.op_type == "ConvTranspose" and _is_cut(region, node.input[0])]
    cuts = [_cut(region, tensor, latent, tanh.output[0], initializers, index) for index, tensor in enumerate(cut_tensors)]
    cuts.append(DecoderCut(rate=hop, reach=0, start_input="audio_start", end_input="audio_end"))

    encoder_nodes = [nodes[i] for i in sorted(_ancestors(nodes, latent))]
    banded, band_weights = _banded_attention(encoder_nodes, initializers)
    if band_weights:  # kept only if it gives the voice's own latent frames
        banded = [banded[i] for i in sorted(_ancestors(banded, latent))]  # what the band left unused goes
        as_exported = _submodel(model, encoder_nodes, list(graph.input), [_float_value(latent, 3)])
        if _same_latent(as_exported, _submodel(model, banded, list(graph.input), [_float_value(latent, 3)],
                                               replaced=band_weights)):
            encoder_nodes = banded
        else:
            band_weights = []
    encoder_nodes, encoder_weights = _encoder_as_2d(model, encoder_nodes, initializers)
    encoder = _submodel(model, encoder_nodes, list(graph.input), [_float_value(latent, 3)],
                        replaced=[*encoder_weights, *band_weights])
    nodes_2d, weights_2d = _as_2d(model, region, latent, tanh, initializers, constants)
    audio = tanh.output[0]
    targets = dict(zip([*cut_tensors, f"{audio}__2d"], cuts, strict=True))
    if len(cut_tensors) < 2:  # one upsampling: one part
        layout = DecoderLayout(latent_name=latent, hop=hop, context=context, cuts=tuple(cuts))
        decoder = _decoder_part(model, nodes_2d, (latent, 3), (audio, 3), targets, weights_2d)
        return SplitVoice(encoder=encoder, decoders=(decoder,), layouts=(layout,))
    # Two parts, cut before the second upsampling (`middle`): the first part reaches far, the second little
    middle, middle_cut = cut_tensors[1], cuts[1]
    rate, first_context = _hop_and_context(region, latent, middle, initializers)
    first_cuts = [*(_cut(region, tensor, latent, middle, initializers, index)  # reach: what `middle` needs
                    for index, tensor in enumerate(cut_tensors[:1])),
                  DecoderCut(rate=rate, reach=0, start_input="part_start", end_input="part_end")]
    first = DecoderLayout(latent_name=latent, hop=rate, context=first_context, cuts=tuple(first_cuts),
                          window=FIRST_WINDOW_FRAMES)
    second = DecoderLayout(latent_name=middle, hop=hop, context=-(-middle_cut.reach // rate),
                           cuts=tuple(cuts[1:]), input_rate=rate)
    first_targets = dict(zip([*cut_tensors[:1], middle], first_cuts, strict=True))
    second_targets = dict(list(targets.items())[1:])  # from `middle` on: the cuts' reach is what the audio needs
    decoders = (_decoder_part(model, nodes_2d, (latent, 3), (middle, 4), first_targets, weights_2d),
                _decoder_part(model, nodes_2d, (middle, 4), (audio, 3), second_targets, weights_2d))
    return SplitVoice(encoder=encoder, decoders=decoders, layouts=(first, second))


def window_bounds(layout: DecoderLayout, left: int, right: int, own: int) -> dict[str, np.ndarray]:
    """The Slice bounds for a run on `left` + `own` + `right` latent frames (context, the window, context): at
    each cut, what lies further out than the rest of the decoder reaches is dropped; at the audio, all but the
    window's own samples."""
    feeds: dict[str, np.ndarray] = {}
    lost_left = lost_right = 0  # context samples already dropped, at the previous cut's rate
    rate = 1
    for cut in layout.cuts:
        lost_left, lost_right, rate = lost_left * cut.rate // rate, lost_right * cut.rate // rate, cut.rate
        drop_left = max(0, left * rate - lost_left - cut.reach)
        drop_right = max(0, right * rate - lost_right - cut.reach)
        length = (left + own + right) * rate - lost_left - lost_right
        feeds[cut.start_input] = np.array([drop_left], dtype=np.int64)
        feeds[cut.end_input] = np.array([length - drop_right], dtype=np.int64)
        lost_left, lost_right = lost_left + drop_left, lost_right + drop_right
    return feeds


def decode_in_windows(run, signal: np.ndarray, layout: DecoderLayout, window: int | None = None) -> np.ndarray:
    """A decoder part's output for its whole input (latent frames [1, channels, frames], or the first part's
    output), `run(piece, bounds)` being one run of the part (`bounds`: the Slice inputs, `window_bounds`). Audio
    [1, 1, frames * hop] for the last part."""
    window = window or layout.window
    rate = layout.input_rate
    frames = signal.shape[-1] // rate
    if frames <= window + layout.context:
        return run(signal, window_bounds(layout, 0, 0, frames))
    pieces = []
    for start in range(0, frames, window):
        end = min(frames, start + window)
        left, right = max(0, start - layout.context), min(frames, end + layout.context)
        bounds = window_bounds(layout, start - left, right - end, end - start)
        pieces.append(run(np.ascontiguousarray(signal[..., left * rate:right * rate]), bounds))
    return np.concatenate(pieces, axis=-1)


def decode_by_parts(runs, latent: np.ndarray, layouts: tuple[DecoderLayout, ...], window: int | None = None
                    ) -> np.ndarray:
    """Audio [1, 1, frames * hop] for latent frames: each part of the decoder in turn, window by window, on what
    the part before gave (`runs`: one `run(piece, bounds)` per part, as `decode_in_windows` takes)."""
    signal = latent
    for run, layout in zip(runs, layouts, strict=True):
        signal = decode_in_windows(run, signal, layout, window)
    return signal


# --- finding the decoder ---------------------------------------------------------------------------------------
def _decoder_ends(graph, nodes, producer):
    """(the decoder's input tensor, its final Tanh): the input of the convolution before the first upsampling
    (HiFi-GAN's conv_pre, through its activation), and the last Tanh, which must lead to the model's only output
    through reshapes alone."""
    upsample = next((node for node in nodes if node.op_type == "ConvTranspose"), None)
    if upsample is None:
        raise NotSplittable("no upsampling convolution (not a HiFi-GAN decoder)")
    node = producer.get(upsample.input[0])
    while node is not None and node.op_type in _ELEMENTWISE and len(node.input) == 1:
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Conv":
        raise NotSplittable("no convolution before the first upsampling")
    tanhs = [node for node in nodes if node.op_type == "Tanh"]
    if not tanhs or len(graph.output) != 1:
        raise NotSplittable("no final Tanh, or more than one output")
    tanh = tanhs[-1]
    consumers: dict[str, list] = {}
    for other in nodes:
        for name in other.input:
            consumers.setdefault(name, []).append(other)
    tensor = tanh.output[0]
    while tensor != graph.output[0].name:
        users = consumers.get(tensor, [])
        if len(users) != 1 or users[0].op_type not in _RESHAPES:
            raise NotSplittable("the final Tanh does not lead straight to the output")
        tensor = users[0].output[0]
    return node.input[0], tanh


def _ancestors(nodes, tensor: str) -> set[int]:
    """Indices of the nodes that `tensor` depends on."""
    needed, found = {tensor}, set()
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if any(out in needed for out in node.output):
            found.add(index)
            needed.update(name for name in node.input if name)
    return found


def _between(nodes, start: str, end: str) -> list:
    """The nodes that depend on `start` and that `end` depends on, in order."""
    reached, downstream = {start}, set()
    for index, node in enumerate(nodes):
        if any(name in reached for name in node.input):
            downstream.add(index)
            reached.update(node.output)
    return [nodes[i] for i in sorted(downstream & _ancestors(nodes, end))]


def _check_self_contained(region, latent: str, audio: str, nodes, initializers, constants) -> None:
    """The decoder may read only the latent frames, its own weights and scalar constants; its intermediate
    tensors may feed nothing outside it (a speaker-conditioned decoder reads the speaker embedding: not split)."""
    inside = {latent} | {out for node in region for out in node.output}
    region_ids = {id(node) for node in region}
    for node in region:
        if node.op_type not in _ELEMENTWISE | _CONVOLUTIONS:
            raise NotSplittable(f"decoder operator {node.op_type} is not a convolution or elementwise")
        for position, name in enumerate(node.input):
            if not name or name in inside:
                continue
            if node.op_type in _CONVOLUTIONS and position >= 1 and name in initializers:
                continue  # weight, bias
            if _is_scalar(name, initializers, constants):
                continue
            raise NotSplittable(f"decoder reads {name!r} from outside (speaker conditioning?)")
    weights = {name for node in region if node.op_type in _CONVOLUTIONS for name in node.input[1:]}
    for node in nodes:
        if id(node) not in region_ids and any(name in weights or (name in inside and name not in (latent, audio))
                                              for name in node.input):
            raise NotSplittable(f"{node.op_type} {node.name!r} outside the decoder reads from inside it")


def _is_scalar(name: str, initializers, constants) -> bool:
    # lazy: onnx is slow to load: only when a voice is cut into its parts (once per voice)
    from onnx import helper, numpy_helper

    if name in initializers:
        return math.prod(initializers[name].dims) == 1 and len(initializers[name].dims) <= 1
    if name in constants:
        for attribute in constants[name].attribute:
            if attribute.name == "value":
                value = numpy_helper.to_array(helper.get_attribute_value(attribute))
                return value.size == 1 and value.ndim <= 1
    return False


def _attributes(node) -> dict:
    from onnx import helper  # lazy: onnx is slow to load: only when a voice is cut into its parts (once per voice)

    return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}


def _is_cut(region, tensor: str) -> bool:
    """Whether every path from the decoder's input to its audio goes through `tensor`: what is computed after it
    reads nothing computed before it."""
    producer = next((i for i, node in enumerate(region) if tensor in node.output), None)
    if producer is None:
        return False
    before = {out for node in region[:producer + 1] for out in node.output} - {tensor}
    return not any(name in before for node in region[producer + 1:] for name in node.input)


def _cut(region, tensor: str, latent: str, audio: str, initializers, index: int) -> DecoderCut:
    """The cut at `tensor`: its rate (from the input), and how far the rest of the decoder reaches in it."""
    rate, _ = _hop_and_context(region, latent, tensor, initializers)
    _, reach = _hop_and_context(region, tensor, audio, initializers)
    return DecoderCut(rate=rate, reach=reach, start_input=f"cut{index}_start", end_input=f"cut{index}_end")


def _hop_and_context(region, latent: str, audio: str, initializers) -> tuple[int, int]:
    """Samples per latent frame, and how many frames on each side an output sample depends on (the receptive
    field, walked layer by layer: `rate` is samples per frame at a tensor, `reach` its one-sided reach in
    frames). `latent` may be any tensor of the decoder: the walk starts there."""
    rate, reach = {latent: 1}, {latent: 0.0}
    for node in region:
        inputs = [name for name in node.input if name in rate]
        if not inputs:
            continue  # before the walk's start
        node_rate = {rate[name] for name in inputs}
        if len(node_rate) != 1:
            raise NotSplittable(f"{node.op_type} {node.name!r} mixes sample rates")
        r, extent = node_rate.pop(), max(reach[name] for name in inputs)
        if node.op_type in _CONVOLUTIONS:
            attributes = _attributes(node)
            kernel = list(initializers[node.input[1]].dims)[2:]
            if len(kernel) != 1:
                raise NotSplittable("decoder convolution is not 1-D")
            dilation = (attributes.get("dilations") or [1])[0]
            stride = (attributes.get("strides") or [1])[0]
            pads = attributes.get("pads") or [0, 0]
            if attributes.get("group", 1) != 1 and node.op_type == "ConvTranspose":
                raise NotSplittable("grouped upsampling")
            span = dilation * (kernel[0] - 1)
            if node.op_type == "Conv":
                if stride != 1:
                    raise NotSplittable("strided convolution in the decoder")
                extent += max(pads[0], span - pads[0], 0) / r
            else:  # upsampling: an output sample reads the input samples within the kernel's span / stride
                extent += (span + max(pads)) / stride / r + 1 / r
                r *= stride
        for out in node.output:
            rate[out], reach[out] = r, extent
    if audio not in rate:
        raise NotSplittable("the decoder's output does not depend on its input")
    return rate[audio], math.ceil(reach[audio]) + 1


# --- building the two models ---------------------------------------------------------------------------------
def _float_value(name: str, rank: int):
    # lazy: onnx is slow to load: only when a voice is cut into its parts (once per voice)
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None] * rank)


def _opset(model) -> int:
    return next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)


def _height_axis(model, axes_name: str):
    """(a maker of Unsqueeze/Squeeze nodes on axis 2, the initializers it needs): axes are an input from opset 13."""
    from onnx import helper, numpy_helper  # lazy: onnx is slow to load (once per voice)

    if _opset(model) >= 13:
        def reshape(op: str, source: str, target: str, name: str):
            return helper.make_node(op, [source, axes_name], [target], name=name)

        return reshape, [numpy_helper.from_array(np.array([2], dtype=np.int64), axes_name)]

    def reshape_attribute(op: str, source: str, target: str, name: str):
        return helper.make_node(op, [source], [target], name=name, axes=[2])

    return reshape_attribute, []


def _convolution_2d(node, initializers) -> tuple[Any, Any]:
    """A copy of a 1-D Conv or ConvTranspose as a 2-D one of kernel 1 x k (attributes given a height of 1), and its
    2-D weight (same name)."""
    from onnx import helper, numpy_helper  # lazy: onnx is slow to load (once per voice)

    node = copy.deepcopy(node)
    weight = numpy_helper.to_array(initializers[node.input[1]])
    rewritten = []
    for name, value in _attributes(node).items():
        if name in ("kernel_shape", "strides", "dilations", "output_padding", "output_shape"):
            value = [1, *value]
        elif name == "pads":
            value = [0, value[0], 0, value[1]]
        rewritten.append(helper.make_attribute(name, value))
    del node.attribute[:]
    node.attribute.extend(rewritten)
    return node, numpy_helper.from_array(weight[:, :, None, :], node.input[1])


def _same_latent(original: bytes, rewritten: bytes) -> bool:
    """Whether two encoders give the same latent frames (to float precision) for phoneme sequences of a few
    lengths, shorter and longer than the attention's window, without noise."""
    import onnxruntime  # lazy: only when a voice is cut (once per voice)

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        sessions = [onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
                    for model in (original, rewritten)]
        rng = np.random.default_rng(0)
        for length in (1, 3, 7, 61):
            feeds = {"input": rng.integers(1, 20, (1, length)).astype(np.int64),
                     "input_lengths": np.array([length], dtype=np.int64),
                     "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32)}
            feeds |= {item.name: np.zeros(1, dtype=np.int64) for item in sessions[0].get_inputs()
                      if item.name not in feeds}  # a speaker id
            expected, got = (session.run(None, feeds)[0] for session in sessions)
            if expected.shape != got.shape or not np.allclose(expected, got, rtol=1e-4, atol=1e-4):
                return False
    except Exception:  # onnxruntime's own errors: the rewrite is not used
        return False
    return True


def _banded_attention(nodes, initializers) -> tuple[list, list]:
    """The text encoder's relative attention (VITS: a window of w positions on each side) computed on its band
    only. As exported, each query is multiplied by the 2w + 1 relative embeddings padded with zeros to 2T - 1
    positions, and the T x (2T - 1) result re-indexed to T x T (keys); the T x T weights are re-indexed to
    T x (2T - 1) and multiplied by the padded embeddings (values): ~10 % of the encoder's time at T ~ 220
    phonemes, mostly on zeros. Here the products are T x (2w + 1), and a skew (pad, flatten, reshape) lays the
    band where the re-indexing put it: the same sums, the zeros left out. Returns the nodes (the unused ones
    dropped) and the initializers they add; a layer whose graph is not the expected shape is left as it is.
    split_voice checks the result against the voice's own encoder before keeping it."""
    from onnx import helper, numpy_helper  # lazy: onnx is slow to load (once per voice)

    producer = {out: node for node in nodes for out in node.output}
    users: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            users.setdefault(name, []).append(node)

    def only_user(tensor: str, *ops: str):
        found = [user for user in users.get(tensor, []) if user.op_type != "Shape"]
        return found[0] if len(found) == 1 and found[0].op_type in ops else None

    def embedding_matmul(name: str):
        """The MatMul that reads the padded embedding `name` (through Pad, Slice, Unsqueeze and a Transpose) as
        its second input: query x embeddings, weights x embeddings."""
        tensor, node = name, only_user(name, "Pad")
        while node is not None and node.op_type != "MatMul":
            tensor = node.output[0]
            node = only_user(tensor, "Slice", "Unsqueeze", "Transpose", "MatMul")
        return node if node is not None and node.input[1] == tensor else None

    # the band's nodes, by the output they now make: laid where its old maker was, which came after what they read
    # (the queries, or the attention's weights)
    added: dict[str, list] = {}
    weights: list = []
    for name, init in initializers.items():
        if not name.endswith(("emb_rel_k", "emb_rel_v")) or len(init.dims) != 3 or init.dims[0] != 1:
            continue
        matmul = embedding_matmul(name)
        if matmul is None:
            continue
        keys = name.endswith("k")
        if keys:  # the re-indexing to T x T, up to the Add of the logits
            end = matmul.output[0]
            while (node := only_user(end, "Pad", "Reshape", "Slice")) is not None:
                end = node.output[0]
            if end == matmul.output[0] or only_user(end, "Add") is None:
                continue
            source = matmul.input[0]  # the scaled queries
        else:  # the re-indexing to T x (2T - 1), back to the attention's weights
            source = matmul.input[0]
            while (node := producer.get(source)) is not None and node.op_type in ("Pad", "Reshape", "Slice"):
                source = node.input[0]
            if node is None or node.op_type != "Softmax" or source == matmul.input[0]:
                continue
            end = matmul.output[0]
        table = numpy_helper.to_array(init)[0].astype(np.float32)  # [2w + 1, d]
        w = table.shape[0] // 2
        prefix = f"{matmul.output[0]}__"

        def const(label: str, values, prefix: str = prefix) -> str:
            weights.append(numpy_helper.from_array(np.asarray(values), prefix + "c_" + label))
            return prefix + "c_" + label

        band_nodes = added[end] = []

        def op(kind: str, inputs: list[str], label: str, output: str | None = None, prefix: str = prefix,
               band_nodes: list = band_nodes, **attributes) -> str:
            band_nodes.append(helper.make_node(kind, inputs, [output or prefix + label], name=prefix + label,
                                               **attributes))
            return output or prefix + label

        zero, last, flat = const("zero", [0]), const("last", [-1]), const("flat", [0, 0, -1])
        if keys:
            # A[i, j] = B[i, j - i + w] on the band, 0 elsewhere: each row of B padded by T, the whole flattened,
            # cut to T x (T + 2w) values and reshaped to T rows of T + 2w (row i shifted i places), sliced
            b = op("MatMul", [source, const("band", table.T.copy())], "b")  # [.., T, 2w + 1]
            size = op("Gather", [op("Shape", [b], "shape"), const("time_axis", [2])], "t")
            padded = op("Pad", [b, op("Concat", [const("zeros", [0] * 7), size], "pads", axis=0)], "padded")
            width = op("Add", [size, const("2w", [2 * w])], "width")  # T + 2w
            cut = op("Slice", [op("Reshape", [padded, flat], "flat"), zero, op("Mul", [size, width], "keep"), last],
                     "cut")
            skewed = op("Reshape", [cut, op("Concat", [zero, zero, last, width], "rows", axis=0)], "skewed")
            op("Slice", [skewed, const("w", [w]), const("minus_w", [-w]), last], "logits", output=end)
        else:
            # C[i, c] = P[i, i + c - w]: each row of P padded by w on both sides, the whole flattened, padded by
            # T and reshaped to T rows of T + 2w + 1 (row i shifted back i places), the first 2w + 1 columns
            wide = op("Pad", [source, const("pads_w", [0, 0, 0, w, 0, 0, 0, w])], "wide")  # [.., T, T + 2w]
            size = op("Gather", [op("Shape", [source], "shape"), const("time_axis", [2])], "t")
            longer = op("Pad", [op("Reshape", [wide, flat], "flat"),
                                op("Concat", [const("zeros", [0] * 5), size], "pads", axis=0)], "longer")
            width = op("Add", [size, const("2w1", [2 * w + 1])], "width")  # T + 2w + 1
            skewed = op("Reshape", [longer, op("Concat", [zero, zero, last, width], "rows", axis=0)], "skewed")
            banded = op("Slice", [skewed, zero, const("band_width", [2 * w + 1]), last], "banded")
            op("MatMul", [banded, const("band", table)], "values", output=end)
    out: list = []
    for node in nodes:
        out.extend(added.get(node.output[0], [node]) if node.output else [node])
    return out, weights


def _encoder_as_2d(model, nodes, initializers) -> tuple[list, list]:
    """The encoder's 1-D convolutions (its text encoder's feed-forward layers, its flow's WaveNet layers: ~60 % of
    its time) as 2-D ones of height 1 between an Unsqueeze and a Squeeze, for the blocked kernels, as the
    decoder's; and the initializers that replace the voice's. A convolution whose weight is not a 3-D weight of
    its own is left as it is."""
    reshape, new_initializers = _height_axis(model, "encoder__height_axis")
    users: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            users.setdefault(name, []).append(node)
    out_nodes = []
    for node in nodes:
        weight = initializers.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if weight is None or len(weight.dims) != 3 or len(users[node.input[1]]) != 1:
            out_nodes.append(node)
            continue
        conv, weight_2d = _convolution_2d(node, initializers)
        source, target = node.input[0], node.output[0]
        conv.input[0], conv.output[0] = f"{target}__in_2d", f"{target}__2d"
        out_nodes += [reshape("Unsqueeze", source, conv.input[0], f"{conv.name}__to_2d"), conv,
                      reshape("Squeeze", conv.output[0], target, f"{conv.name}__from_2d")]
        new_initializers.append(weight_2d)
    return out_nodes, new_initializers


def _as_2d(model, region, latent: str, tanh, initializers, constants) -> tuple[list, list]:
    """The decoder's nodes rewritten on tensors [1, channels, 1, samples] (an Unsqueeze in, 2-D convolutions of
    kernel 1 x k, a Squeeze out), and the initializers that replace the voice's (2-D weights, the axis). Copies:
    the loaded graph is not touched."""
    reshape, new_initializers = _height_axis(model, f"{latent}__height_axis")
    latent_2d, audio = f"{latent}__2d", tanh.output[0]
    out_nodes = [reshape("Unsqueeze", latent, latent_2d, "decoder_to_2d")]
    for node in region:
        node = copy.deepcopy(node)
        node.input[:] = [latent_2d if name == latent else name for name in node.input]
        node.output[:] = [f"{audio}__2d" if name == audio else name for name in node.output]
        phased = _by_phases(node, initializers) if node.op_type == "ConvTranspose" else None
        if phased is not None:
            out_nodes.extend(phased[0])
            new_initializers.extend(phased[1])
            continue
        if node.op_type in _CONVOLUTIONS:
            node, weight_2d = _convolution_2d(node, initializers)
            new_initializers.append(weight_2d)
        out_nodes.append(node)
    out_nodes.append(reshape("Squeeze", f"{audio}__2d", audio, "decoder_from_2d"))
    # the Constants the decoder reads, in a fixed order (a set's order would change the kept file's bytes)
    read = dict.fromkeys(name for node in region for name in node.input)
    out_nodes.extend(constants[name] for name in read if name in constants)
    return out_nodes, new_initializers


def _by_phases(node, initializers) -> tuple[list, list] | None:
    """A 1-D transposed convolution (upsampling by its stride s) as 2-D nodes that compute the same sums at the
    input's rate: a convolution whose s x C_out channels are the s phases of each output sample, then the phases
    interleaved (Reshape, Transpose, Reshape) and the padding sliced off. onnxruntime runs ConvTranspose as a
    matrix product and a col2im, ~40 % slower per operation than its blocked 2-D Conv (docs/speed.md). None when
    the node is not a plain one (groups, dilation, output padding or shape, auto_pad): it is then left as it is.

    Output sample u = m*s + r of the unpadded result sums x[m - j] * w[j*s + r] over j < J = ceil(k / s): a
    convolution of kernel J over x, padded by J - 1 on both sides, for each phase r. The result's first `pads[0]`
    and last `pads[1]` samples are what ConvTranspose's pads remove."""
    from onnx import helper, numpy_helper  # lazy: onnx is slow to load (once per voice)

    attributes = _attributes(node)
    plain = (attributes.get("group", 1) == 1 and set(attributes.get("dilations", [1])) == {1}
             and not any(attributes.get("output_padding", [])) and "output_shape" not in attributes
             and attributes.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET") and node.input[1] in initializers)
    weight = numpy_helper.to_array(initializers[node.input[1]]) if plain else None
    if weight is None or weight.ndim != 3 or (len(node.input) > 2 and node.input[2] not in initializers):
        return None
    channels_in, channels_out, kernel = weight.shape
    stride = attributes.get("strides", [1])[0]
    pad_start, pad_end = attributes.get("pads", [0, 0])
    taps = -(-kernel // stride)
    padded = np.zeros((channels_in, channels_out, taps * stride), dtype=weight.dtype)
    padded[:, :, :kernel] = weight
    # [phase, tap j, in, out] -> the Conv's [phase x out, in, 1, kernel index], kernel index J - 1 - j reading x[m - j]
    by_phase = padded.reshape(channels_in, channels_out, taps, stride)[:, :, ::-1, :].transpose(3, 1, 0, 2)
    name = node.output[0]
    values = {f"{name}__phases_w": by_phase.reshape(stride * channels_out, channels_in, 1, taps),
              f"{name}__phases_shape": np.array([0, stride, channels_out, -1], dtype=np.int64),
              f"{name}__interleaved_shape": np.array([0, channels_out, 1, -1], dtype=np.int64),
              f"{name}__start": np.array([pad_start], dtype=np.int64),
              # from the end: the taps past the kernel, and the padding
              f"{name}__end": np.array([-(taps * stride - kernel + pad_end) or np.iinfo(np.int64).max],
                                       dtype=np.int64),
              f"{name}__time_axis": np.array([3], dtype=np.int64)}
    inputs = [node.input[0], f"{name}__phases_w"]
    if len(node.input) > 2:  # the bias of output channel o, for each phase
        values[f"{name}__phases_b"] = np.tile(numpy_helper.to_array(initializers[node.input[2]]), stride)
        inputs.append(f"{name}__phases_b")
    nodes = [
        helper.make_node("Conv", inputs, [f"{name}__phases"], name=f"{node.name}__phases",
                         kernel_shape=[1, taps], pads=[0, taps - 1, 0, taps - 1]),
        helper.make_node("Reshape", [f"{name}__phases", f"{name}__phases_shape"], [f"{name}__by_phase"]),
        helper.make_node("Transpose", [f"{name}__by_phase"], [f"{name}__by_time"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", [f"{name}__by_time", f"{name}__interleaved_shape"], [f"{name}__interleaved"]),
        helper.make_node("Slice", [f"{name}__interleaved", f"{name}__start", f"{name}__end",
                                   f"{name}__time_axis"], [name]),
    ]
    return nodes, [numpy_helper.from_array(value, key) for key, value in values.items()]


def _decoder_part(model, nodes_2d, source: tuple[str, int], target: tuple[str, int], targets: dict, weights_2d,
                  ) -> bytes:
    """The part of the 2-D decoder from `source` to `target` (tensor names and ranks), with a Slice of the time
    axis at each of `targets` (tensor -> DecoderCut) and their bounds as inputs."""
    # Constants first: `_ancestors` walks back from the end of a list in graph order
    ordered = [node for node in nodes_2d if node.op_type == "Constant"] + [
        node for node in nodes_2d if node.op_type != "Constant"]
    before = {i for i in _ancestors(ordered, source[0]) if ordered[i].op_type != "Constant"}
    part = [ordered[i] for i in sorted(_ancestors(ordered, target[0]) - before)]
    read = {name for node in part for name in node.input}
    part = [copy.deepcopy(node) for node in part if node.op_type != "Constant" or node.output[0] in read]
    part, slice_inputs, axis = _sliced(part, targets)
    output = _cut_name(target[0]) if target[0] in targets else target[0]
    return _submodel(model, part, [_float_value(source[0], source[1]), *slice_inputs],
                     [_float_value(output, target[1])], replaced=[*weights_2d, axis])


def _cut_name(tensor: str) -> str:
    """The name of `tensor` once sliced at its cut (`_sliced`)."""
    return f"{tensor}__cut"


def _sliced(nodes, targets: dict) -> tuple[list, list, object]:
    """`nodes` (changed in place) with a Slice of the time axis at each of `targets` (tensor -> DecoderCut), in
    graph order; a target no node makes is the part's input, sliced first. Also the Slice bounds as model inputs,
    and the axis they slice (an initializer)."""
    from onnx import TensorProto, helper, numpy_helper  # lazy: onnx is slow to load (once per voice)

    axis = numpy_helper.from_array(np.array([3], dtype=np.int64), "decoder_time_axis")
    renamed = {tensor: _cut_name(tensor) for tensor in targets}
    inputs: list = []

    def sliced(tensor: str):
        cut = targets[tensor]
        inputs.extend(helper.make_tensor_value_info(name, TensorProto.INT64, [1])
                      for name in (cut.start_input, cut.end_input))
        return helper.make_node("Slice", [tensor, cut.start_input, cut.end_input, axis.name], [renamed[tensor]],
                                name=f"slice_{cut.start_input}")

    made = {out for node in nodes for out in node.output}
    out = [sliced(tensor) for tensor in targets if tensor not in made]
    for node in nodes:
        node.input[:] = [renamed.get(name, name) for name in node.input]
        out.append(node)
        out.extend(sliced(tensor) for tensor in node.output if tensor in targets)
    return out, inputs, axis


def _submodel(model, nodes, inputs, outputs, replaced=()) -> bytes:
    """A model of `nodes` (Constants they read are put first), with the initializers they use; `replaced` ones
    take the place of the voice's of the same name."""
    from onnx import helper  # lazy: onnx is slow to load: only when a voice is cut into its parts (once per voice)

    constants = [node for node in nodes if node.op_type == "Constant"]
    ordered = constants + [node for node in nodes if node.op_type != "Constant"]
    used = {name for node in ordered for name in node.input}
    initializers = {init.name: init for init in model.graph.initializer if init.name in used}
    initializers.update((init.name, init) for init in replaced if init.name in used)
    graph = helper.make_graph(ordered, "piper-part", inputs, outputs, list(initializers.values()))
    part = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return part.SerializeToString()

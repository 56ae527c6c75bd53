r"""A sentiment model as one ONNX graph, written with the ``onnx`` package (no PyTorch).

Inputs and outputs (B and T dynamic)::

    ids            (B, T) int64    token ids, each row padded with 0 after its lengths[b] ids
    lengths        (B,)   int64    real lengths, 1..T
    logits         (B, C) float32  the dense layer's output (an ensemble: log of the averaged
                                   probabilities, so that softmax(logits) = probabilities)
    probabilities  (B, C) float32  softmax(logits); an ensemble: the mean over its members

One member, as ``bptt.models.Classifier.forward`` computes it::

    x     = Gather(embedding, ids^T)                       (T, B, E)
    Y, Yh = LSTM / GRU / RNN(x, W, R, B, sequence_lens)    Y (T, D, B, H), Yh (D, B, H)
    x     = Reshape(Transpose(Y, 0 2 1 3), (T, B, D*H))    the next layer's input, [fwd ; bwd]
    s     = pool(x, Yh)                                    (B, P*D*H)
    logits = Gemm(s, fc.weight^T) + fc.bias                (B, C)

with the real steps of text b, t < lengths[b], as a mask (T, B, 1): ``last`` takes Yh (forward:
the state at step lengths[b]; backward: after reading step 1), ``max`` the ReduceMax over real
steps (padding set to -inf), ``mean`` the ReduceSum over real steps / lengths; a pooling of
several parts (``max+mean``, ``last+max+mean``) concatenates them in that order.
``sequence_lens`` makes each direction read exactly the real steps (the reverse one starts at
step lengths[b]), as bptt's packing does. Gate orders and bias layout: ``layouts``.

Opset 17 (ONNX 1.12+, IR version 8), so that runtimes from 2022 on load it. A weight whose
float32 values are all exact in float16 (the shipped models' are: they ship in float16) is
stored in float16 and cast back to float32 in the graph, which halves the file and changes no
value.
"""
from __future__ import annotations

import json

import numpy as np

from ..models.classifier import pooling_parts
from .layouts import cell_kind, reorder
from .source import Exportable

OPSET = 17
IR_VERSION = 8
ONNX_OPS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
RNN_ACTIVATIONS = {"rnn_tanh": "Tanh", "rnn_relu": "Relu", "rnn_sigmoid": "Sigmoid"}
SMALL = 1024                            # weights with fewer values stay float32 (no Cast node)


class _Graph:
    """Nodes and initializers under construction; ``op`` returns its outputs' names."""

    def __init__(self, onnx):
        self.onnx, self.helper = onnx, onnx.helper
        self.nodes, self.initializers, self._count = [], [], 0
        self._consts: dict[str, np.ndarray] = {}

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, name: str, array: np.ndarray) -> str:
        """An initializer ``name``: float32 weights that float16 holds exactly are stored so and
        cast back (see the module docstring). A name given twice must hold the same value, and is
        one initializer."""
        from onnx import numpy_helper
        array = np.ascontiguousarray(array)
        if name in self._consts:                        # a shared constant (an axis, a shape)
            assert np.array_equal(self._consts[name], array), name
            return name
        self._consts[name] = array
        if array.dtype == np.float32 and array.size >= SMALL:
            half = array.astype(np.float16)
            if np.array_equal(half.astype(np.float32), array):
                self.initializers.append(numpy_helper.from_array(half, name + ".float16"))
                self.nodes.append(self.helper.make_node("Cast", [name + ".float16"], [name],
                                                        to=self.onnx.TensorProto.FLOAT, name=name + ".cast"))
                return name
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs):
        names = [self._name(op_type) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, inputs, names, name=names[0], **attrs))
        return names[0] if outputs == 1 else names


def _recurrent_layer(g: _Graph, x: str, seq_lens: str, member, layer: int, prefix: str):
    """One layer of ``member.rnn``, both directions in one ONNX node: (Y (T,B,D*H), Yh (D,B,H))."""
    rnn, c = member.rnn, member.rnn.config
    mode, H = c.mode, c.hidden_size
    sfx = [f"_l{layer}", f"_l{layer}_reverse"][:c.directions]
    p = rnn.params
    W = np.stack([reorder(p[f"weight_ih{s}"], mode, "torch", "onnx") for s in sfx])   # (D, G*H, In)
    R = np.stack([reorder(p[f"weight_hh{s}"], mode, "torch", "onnx") for s in sfx])   # (D, G*H, H)
    B = np.stack([np.concatenate([reorder(p[f"bias_ih{s}"], mode, "torch", "onnx"),
                                  reorder(p[f"bias_hh{s}"], mode, "torch", "onnx")]) for s in sfx])  # (D, 2*G*H)
    name = f"{prefix}rnn.l{layer}"
    inputs = [x, g.const(f"{name}.W", W.astype(np.float32)), g.const(f"{name}.R", R.astype(np.float32)),
              g.const(f"{name}.B", B.astype(np.float32)), seq_lens]
    attrs = {"hidden_size": H, "direction": "bidirectional" if c.bidirectional else "forward"}
    kind = cell_kind(mode)
    if kind == "gru":
        attrs["linear_before_reset"] = 1
    if kind == "rnn":
        attrs["activations"] = [RNN_ACTIVATIONS[mode]] * c.directions
    Y, Yh = g.op(ONNX_OPS[kind], inputs, outputs=2, **attrs)           # (T, D, B, H), (D, B, H)
    Y = g.op("Transpose", [Y], perm=[0, 2, 1, 3])                       # (T, B, D, H)
    return g.op("Reshape", [Y, g.const(f"{name}.shape", np.array([0, 0, -1], np.int64))]), Yh


def _member(g: _Graph, k: int, member, n: int, ids_tb: str, seq_lens: str, masks) -> tuple[str, str]:
    """(logits, probabilities) of one member; ``masks()`` gives the shared real-step masks."""
    prefix = f"member{k}." if n > 1 else ""
    c = member.config
    x = g.op("Gather", [g.const(f"{prefix}embedding.weight",
                                member.embedding.params["weight"].astype(np.float32)), ids_tb])  # (T, B, E)
    for layer in range(c.num_layers):
        x, Yh = _recurrent_layer(g, x, seq_lens, member, layer, prefix)            # (T, B, D*H)
    pooled, parts = [], pooling_parts(c.pooling)
    if "last" in parts:
        s = g.op("Transpose", [Yh], perm=[1, 0, 2])                                # (B, D, H)
        pooled.append(g.op("Reshape", [s, g.const(f"{prefix}last.shape", np.array([0, -1], np.int64))]))
    if parts != ("last",):
        real, real_float, lengths_float = masks()                                  # (T,B,1) x2, (B,1)
    if "max" in parts:
        padded = g.op("Where", [real, x, g.const(f"{prefix}minus_inf", np.array(-np.inf, np.float32))])
        pooled.append(g.op("ReduceMax", [padded], axes=[0], keepdims=0))           # (B, D*H)
    if "mean" in parts:
        total = g.op("ReduceSum", [g.op("Mul", [x, real_float]), g.const(f"{prefix}axis0", np.array([0], np.int64))],
                     keepdims=0)                                                   # (B, D*H)
        pooled.append(g.op("Div", [total, lengths_float]))
    s = pooled[0] if len(pooled) == 1 else g.op("Concat", pooled, axis=1)          # (B, P*D*H)
    fc = member.fc.params
    logits = g.op("Gemm", [s, g.const(f"{prefix}fc.weight", fc["weight"].astype(np.float32)),
                           g.const(f"{prefix}fc.bias", fc["bias"].astype(np.float32))], transB=1)  # (B, C)
    return logits, g.op("Softmax", [logits], axis=-1)


def build(source: Exportable):
    """The ``onnx.ModelProto`` of ``source`` (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper
    g = _Graph(onnx)
    ids_tb = g.op("Transpose", ["ids"], perm=[1, 0])                               # (T, B)
    seq_lens = g.op("Cast", ["lengths"], to=TensorProto.INT32)                     # (B,)
    shared = {}

    def masks():
        """(real (T,B,1) bool, the same as float32, lengths (B,1) float32), built once."""
        if not shared:
            T = g.op("Gather", [g.op("Shape", ["ids"]), g.const("one", np.array(1, np.int64))])
            steps = g.op("Range", [g.const("zero", np.array(0, np.int64)), T, "one"])      # (T,)
            real = g.op("Less", [g.op("Unsqueeze", [steps, g.const("axis1", np.array([1], np.int64))]),
                                 g.op("Unsqueeze", ["lengths", g.const("axis0", np.array([0], np.int64))])])
            real = g.op("Unsqueeze", [real, g.const("axis2", np.array([2], np.int64))])    # (T, B, 1)
            lengths = g.op("Unsqueeze", [g.op("Cast", ["lengths"], to=TensorProto.FLOAT), "axis1"])
            shared["masks"] = (real, g.op("Cast", [real], to=TensorProto.FLOAT), lengths)
        return shared["masks"]

    n = len(source.members)
    outs = [_member(g, k, m, n, ids_tb, seq_lens, masks) for k, m in enumerate(source.members)]
    if n == 1:
        g.nodes.append(helper.make_node("Identity", [outs[0][0]], ["logits"], name="logits"))
        g.nodes.append(helper.make_node("Identity", [outs[0][1]], ["probabilities"], name="probabilities"))
    else:
        g.nodes.append(helper.make_node("Mean", [p for _, p in outs], ["probabilities"], name="probabilities"))
        g.nodes.append(helper.make_node("Log", ["probabilities"], ["logits"], name="logits"))
    C = len(source.classes)
    graph = helper.make_graph(
        g.nodes, "bptt_sentiment",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "time"]),
         helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", C]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", C])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="bptt", ir_version=IR_VERSION)
    c = source.members[0].config
    model.doc_string = (f"{source.name}, sentiment: {n} x {'bi' if c.bidirectional else ''}"
                        f"{c.mode.upper()} H{c.hidden_size} x{c.num_layers}, {c.pooling} pooling; "
                        f"classes {', '.join(source.classes)}")
    helper.set_model_props(model, {"classes": json.dumps(list(source.classes)), "members": str(n),
                                   "opset": str(OPSET)})
    return model

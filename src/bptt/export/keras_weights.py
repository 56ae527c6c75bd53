r"""A bptt recurrent layer's weights as Keras 3 layer weights, and back (NumPy only).

One Keras layer is one layer and one direction of a bptt ``RNN`` / ``LSTM`` / ``GRU``: layer
``num_layer``, the forward direction or (``reverse=True``) the backward one. The Keras layer to
build, and the weights ``keras_layer.set_weights`` takes and ``get_weights`` gives::

    bptt            Keras 3                                              weights
    LSTM            keras.layers.LSTM(H)                                 kernel (In, 4H), recurrent_kernel (H, 4H), bias (4H,)
    GRU             keras.layers.GRU(H, reset_after=True)  (the default) kernel (In, 3H), recurrent_kernel (H, 3H), bias (2, 3H)
    RNN rnn_tanh    keras.layers.SimpleRNN(H, activation="tanh")         kernel (In, H), recurrent_kernel (H, H), bias (H,)
        rnn_relu, rnn_sigmoid: activation="relu", "sigmoid"

with ``use_bias=False`` for a layer built with ``bias=False`` (no bias array), and the default
activations otherwise (tanh, and sigmoid for the gates). kernel = weight_ih^T and
recurrent_kernel = weight_hh^T with the gate blocks in Keras's order (``layouts``: LSTM i f c o,
PyTorch's; GRU z r h against PyTorch's r z n). The LSTM's and SimpleRNN's one bias is
bias_ih + bias_hh, so coming back it becomes bias_ih, with bias_hh zero: the same function,
another split. A Keras ``Bidirectional`` layer's weights are the forward layer's, then the
backward one's: ``to_keras_weights(layer) + to_keras_weights(layer, reverse=True)``.
The LSTM's projection (``proj_size``) has no Keras counterpart and is refused.
"""
from __future__ import annotations

import numpy as np

from ..recurrent import Recurrent
from .layouts import cell_kind, reorder

KERAS_LAYERS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}


def _names(layer: Recurrent, num_layer: int, reverse: bool) -> tuple[str, ...]:
    c = layer.config
    if c.proj_size:
        raise ValueError(f"an LSTM with proj_size={c.proj_size} has no Keras counterpart (Keras's LSTM "
                         f"has no projection)")
    if not 0 <= num_layer < c.num_layers:
        raise ValueError(f"num_layer must be in 0..{c.num_layers - 1}, got {num_layer}")
    if reverse and not c.bidirectional:
        raise ValueError("reverse=True needs a bidirectional layer")
    s = f"_l{num_layer}" + ("_reverse" if reverse else "")
    return tuple(f"{w}{s}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def to_keras_weights(layer: Recurrent, num_layer: int = 0, reverse: bool = False) -> list[np.ndarray]:
    """[kernel, recurrent_kernel(, bias)] of layer ``num_layer`` (backward direction if
    ``reverse``) for the Keras layer in the module docstring's table."""
    w_ih, w_hh, b_ih, b_hh = _names(layer, num_layer, reverse)
    p, mode = layer.params, layer.config.mode
    out = [reorder(p[w_ih], mode, "torch", "keras").T.copy(),                       # (In, G*H)
           reorder(p[w_hh], mode, "torch", "keras").T.copy()]                       # (H, G*H)
    if layer.config.bias:
        b_ih, b_hh = (reorder(p[b], mode, "torch", "keras") for b in (b_ih, b_hh))
        out.append(np.stack([b_ih, b_hh]) if cell_kind(mode) == "gru" else b_ih + b_hh)
    return out


def from_keras_weights(weights, layer: Recurrent, num_layer: int = 0, reverse: bool = False) -> None:
    """Write Keras weights (``keras_layer.get_weights()``, or the Keras layer itself, whose
    configuration is then checked too) into layer ``num_layer`` of the bptt ``layer``, in place."""
    if hasattr(weights, "get_weights"):
        _check_keras_layer(weights, layer)
        weights = weights.get_weights()
    names = _names(layer, num_layer, reverse)
    c, p, mode = layer.config, layer.params, layer.config.mode
    G = p[names[0]].shape[0]
    want = [(p[names[0]].shape[1], G), (c.hidden_size, G)]
    if c.bias:
        want.append((2, G) if cell_kind(mode) == "gru" else (G,))
    got = [tuple(np.shape(w)) for w in weights]
    if got != want:
        raise ValueError(f"Keras {KERAS_LAYERS[cell_kind(mode)]} weights for bptt {names[0]}...: expected "
                         f"shapes {want} (kernel, recurrent_kernel" + (", bias)" if c.bias else ")") +
                         f", got {got}")
    arrays = [np.asarray(w, dtype=layer.dtype) for w in weights]
    p[names[0]][...] = reorder(arrays[0].T, mode, "keras", "torch")
    p[names[1]][...] = reorder(arrays[1].T, mode, "keras", "torch")
    if c.bias:
        if cell_kind(mode) == "gru":
            b_ih, b_hh = arrays[2]
        else:
            b_ih, b_hh = arrays[2], np.zeros_like(arrays[2])
        p[names[2]][...] = reorder(b_ih, mode, "keras", "torch")
        p[names[3]][...] = reorder(b_hh, mode, "keras", "torch")


def _check_keras_layer(keras_layer, layer: Recurrent) -> None:
    """The Keras layer computes what the bptt one does: its kind, units, bias and activations."""
    c = layer.config
    kind = cell_kind(c.mode)
    config = keras_layer.get_config()
    want = {"units": c.state_size, "use_bias": c.bias}
    if kind == "rnn":
        want["activation"] = c.mode[4:]
    else:
        want.update(activation="tanh", recurrent_activation="sigmoid")
    if kind == "gru":
        want["reset_after"] = True
    wrong = [f"{k}={config.get(k)!r} (bptt needs {v!r})" for k, v in want.items() if config.get(k) != v]
    if type(keras_layer).__name__ != KERAS_LAYERS[kind]:
        wrong.insert(0, f"a {type(keras_layer).__name__} (bptt {c.mode} needs keras.layers.{KERAS_LAYERS[kind]})")
    if wrong:
        raise ValueError(f"the Keras layer does not compute bptt's {c.mode}: " + "; ".join(wrong))

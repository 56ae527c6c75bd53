"""Keras 3 weights both ways (``to_keras_weights`` / ``from_keras_weights``), checked by running
Keras itself on its PyTorch backend: a bptt layer's weights in a Keras layer give bptt's outputs
and final states, and a Keras layer's weights in a bptt layer give Keras's, within 1e-6, for the
LSTM, the GRU (reset_after=True) and SimpleRNN (tanh, relu, sigmoid), with and without biases,
the backward direction and a stacked bidirectional layer."""
import os

os.environ["KERAS_BACKEND"] = "torch"       # before keras is imported: no TensorFlow needed

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bptt import GRU, LSTM, RNN  # noqa: E402
from bptt.export import from_keras_weights, to_keras_weights  # noqa: E402

CASES = {                    # bptt mode: (bptt layer, Keras layer)
    "lstm": (LSTM, lambda h, **kw: keras.layers.LSTM(h, **kw)),
    "gru": (GRU, lambda h, **kw: keras.layers.GRU(h, reset_after=True, **kw)),
    "rnn_tanh": (lambda *a, **kw: RNN(*a, nonlinearity="tanh", **kw),
                 lambda h, **kw: keras.layers.SimpleRNN(h, activation="tanh", **kw)),
    "rnn_relu": (lambda *a, **kw: RNN(*a, nonlinearity="relu", **kw),
                 lambda h, **kw: keras.layers.SimpleRNN(h, activation="relu", **kw)),
    "rnn_sigmoid": (lambda *a, **kw: RNN(*a, nonlinearity="sigmoid", **kw),
                    lambda h, **kw: keras.layers.SimpleRNN(h, activation="sigmoid", **kw)),
}
E, H = 4, 5
# Keras 3.15's torch backend converts tensors with np.array(x), which NumPy 2 warns about
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _bptt(mode, seed, **kw):
    """A float32 bptt layer (batch first, like Keras) with every parameter U(-0.5, 0.5)."""
    rng = np.random.default_rng(seed)
    layer = CASES[mode][0](E, H, batch_first=True, rng=rng, **kw)
    for p in layer.params.values():
        p[...] = rng.uniform(-0.5, 0.5, p.shape)
    return layer


def _keras(mode, x, use_bias=True, **kw):
    layer = CASES[mode][1](H, use_bias=use_bias, return_sequences=True, return_state=True, **kw)
    layer.build(x.shape)
    return layer


def _x(seed=0, B=3, T=7):
    return np.random.default_rng(seed).standard_normal((B, T, E)).astype(np.float32)   # (B, T, E)


def _run_keras(layer, x):
    out, h, *rest = (keras.ops.convert_to_numpy(y) for y in layer(x))
    return out, h, (rest[0] if rest else None)                     # (B, T, H), (B, H), LSTM c (B, H)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("mode", list(CASES))
def test_bptt_weights_in_keras_give_bptts_outputs(mode, bias):
    x = _x()
    ours = _bptt(mode, 1, bias=bias)
    theirs = _keras(mode, x, use_bias=bias)
    theirs.set_weights(to_keras_weights(ours))
    out, h, c = _run_keras(theirs, x)
    our_out, final, _ = ours.forward(x)                                         # (B, T, H)
    assert np.abs(our_out).max() > 0.1
    np.testing.assert_allclose(out, our_out, rtol=0, atol=1e-6)
    np.testing.assert_allclose(h, final.h[0], rtol=0, atol=1e-6)
    if mode == "lstm":
        np.testing.assert_allclose(c, final.c[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", list(CASES))
def test_keras_weights_in_bptt_give_keras_outputs_and_come_back_unchanged(mode):
    x = _x(1)
    theirs = _keras(mode, x)
    rng = np.random.default_rng(2)
    weights = [rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours = _bptt(mode, 3)
    from_keras_weights(theirs, ours)                                  # the layer: its config is checked
    np.testing.assert_allclose(ours.forward(x)[0], _run_keras(theirs, x)[0], rtol=0, atol=1e-6)
    for back, sent in zip(to_keras_weights(ours), weights):
        np.testing.assert_allclose(back, sent, rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_a_stacked_bidirectional_layer_is_keras_bidirectional_layers(mode):
    x = _x(2)
    ours = _bptt(mode, 4, num_layers=2, bidirectional=True)
    stack = keras.Sequential([keras.Input((x.shape[1], E))] + [
        keras.layers.Bidirectional(CASES[mode][1](H, return_sequences=True)) for _ in range(2)])
    stack.set_weights([w for layer in range(2) for reverse in (False, True)
                       for w in to_keras_weights(ours, layer, reverse)])
    theirs = keras.ops.convert_to_numpy(stack(x))                               # (B, T, 2H)
    np.testing.assert_allclose(theirs, ours.forward(x)[0], rtol=0, atol=1e-6)
    back = _bptt(mode, 5, num_layers=2, bidirectional=True)
    weights = iter(stack.get_weights())
    for layer in range(2):
        for reverse in (False, True):
            from_keras_weights([next(weights) for _ in to_keras_weights(ours)], back, layer, reverse)
    np.testing.assert_allclose(back.forward(x)[0], theirs, rtol=0, atol=1e-6)


def test_a_keras_layer_computing_something_else_is_refused():
    x = _x()
    old_gru = keras.layers.GRU(H, reset_after=False)
    old_gru.build(x.shape)
    with pytest.raises(ValueError, match="reset_after=False"):
        from_keras_weights(old_gru, _bptt("gru", 0))
    with pytest.raises(ValueError, match="activation='tanh' .*bptt needs 'relu'"):
        from_keras_weights(_keras("rnn_tanh", x), _bptt("rnn_relu", 0))
    with pytest.raises(ValueError, match=r"expected shapes \[\(4, 20\), \(5, 20\), \(20,\)\]"):
        from_keras_weights(_keras("gru", x).get_weights(), _bptt("lstm", 0))
    with pytest.raises(ValueError, match="proj_size=2 has no Keras counterpart"):
        to_keras_weights(LSTM(E, H, proj_size=2))

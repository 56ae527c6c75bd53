"""Finite-difference gradient checks (float64, relative error < 1e-6) of every parameter, the
input and the initial state of every recurrent layer, with padding, stacking, bidirectional,
dropout and truncation."""
import numpy as np
import pytest

from bptt import Recurrent, RecurrentConfig
from bptt.gradcheck import check_grads
from bptt.truncated import chunk_slices, truncated_bptt

MODES = ["rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm", "gru"]


def _layer(mode, rng, **kw):
    layer = Recurrent(RecurrentConfig(mode, 3, 4, dtype="float64", **kw), rng=rng)
    for p in layer.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return layer


def _states(layer, rng, B):
    c = layer.config
    shape = (c.num_layers * c.directions, B, c.hidden_size)
    if c.mode == "lstm":
        return tuple(rng.standard_normal(shape) for _ in range(2))
    return rng.standard_normal(shape)


def _flat(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("layers,bidirectional,batch_first", [(1, False, False), (2, True, False),
                                                               (2, False, True)])
@pytest.mark.parametrize("mode", MODES)
def test_gradients_match_finite_differences(mode, layers, bidirectional, batch_first):
    rng = np.random.default_rng(7)
    layer = _layer(mode, rng, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    T, B = 5, 3
    x = rng.standard_normal((B, T, 3) if batch_first else (T, B, 3))
    lengths = np.array([3, 5, 2])
    state0 = _states(layer, rng, B)
    out, final, cache = layer.forward(x, state0, lengths)
    w_out = rng.standard_normal(out.shape)
    w_final = _states(layer, rng, B)

    def loss():
        o, f, _ = layer.forward(x, state0, lengths)
        return float(np.sum(o * w_out) + sum(np.sum(a * w) for a, w in zip(_flat(f), _flat(w_final))))

    dx, d_state0, grads = layer.backward(cache, w_out, w_final)
    arrays = dict(layer.params, x=x)
    grads = dict(grads, x=dx)
    for name, s, ds in zip(("h0", "c0"), _flat(state0), _flat(d_state0)):
        arrays[name], grads[name] = s, ds
    errors = check_grads(loss, arrays, grads)
    assert max(errors.values()) < 1e-6, errors
    assert all(np.abs(grads[n]).max() > 0 for n in arrays)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_dropout_between_layers_gradients(mode):
    rng = np.random.default_rng(11)
    layer = _layer(mode, rng, num_layers=2, dropout=0.4)
    x = rng.standard_normal((4, 2, 3))

    def run():
        layer.dropout_rng = np.random.default_rng(5)        # the same mask every call
        return layer.forward(x, training=True)

    out, _, cache = run()
    assert any(m is not None and (m == 0).any() for m in cache.masks)
    w = rng.standard_normal(out.shape)
    dx, _, grads = layer.backward(cache, w)
    errors = check_grads(lambda: float(np.sum(run()[0] * w)), dict(layer.params, x=x), dict(grads, x=dx))
    assert max(errors.values()) < 1e-6, errors
    eval_out, _ = layer(x)                                  # no dropout outside training
    eval_again, _, _ = layer.forward(x, training=False)
    np.testing.assert_array_equal(eval_out, eval_again)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_truncated_bptt_matches_finite_differences_with_carried_state_held_fixed(mode):
    """Truncated BPTT is the exact gradient of sum_j L_j(theta, h0_j) with each chunk's start
    state h0_j computed by the forward pass but treated as a constant."""
    rng = np.random.default_rng(13)
    layer = _layer(mode, rng, num_layers=2)
    T, B, k = 10, 2, 3
    x = rng.standard_normal((T, B, 3))
    w = rng.standard_normal((T, B, 4))
    loss_grad = lambda out, s: (float(np.sum(out * w[s])), w[s])

    total, grads, _ = truncated_bptt(layer, x, k, loss_grad)
    starts = [None]                                         # carried states with theta fixed
    for s in chunk_slices(T, k)[:-1]:
        starts.append(layer.forward(x[s], starts[-1])[1])

    def truncated_loss():
        return sum(float(np.sum(layer.forward(x[s], h0)[0] * w[s]))
                   for s, h0 in zip(chunk_slices(T, k), starts))

    assert np.isclose(total, truncated_loss())
    errors = check_grads(truncated_loss, layer.params, grads)
    assert max(errors.values()) < 1e-6, errors

    _, _, full_cache = layer.forward(x)
    _, _, full = layer.backward(full_cache, w)
    assert any(np.abs(full[n] - grads[n]).max() > 1e-6 for n in full)   # the cut is real
    _, untruncated, _ = truncated_bptt(layer, x, T, loss_grad)
    for n in full:
        np.testing.assert_allclose(untruncated[n], full[n], rtol=1e-12, atol=1e-12)


def test_truncated_bptt_refuses_a_bidirectional_layer():
    layer = _layer("gru", np.random.default_rng(0), bidirectional=True)
    with pytest.raises(ValueError, match="unidirectional"):
        truncated_bptt(layer, np.zeros((4, 1, 3)), 2, lambda out, s: (0.0, np.zeros_like(out)))

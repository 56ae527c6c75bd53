"""bptt's RNN / LSTM / GRU against torch.nn with identical weights: outputs, final states and
every gradient (parameters, input, initial state), including stacking, bidirectional,
batch_first and variable lengths against pack_padded_sequence."""
import numpy as np
import pytest
import torch

from bptt import Recurrent, RecurrentConfig
from bptt.gradcheck import rel_error
from torch_reference import assert_param_grads_match, run_torch, torch_twin

TOL = {"float64": 1e-10, "float32": 1e-5}
MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
# (num_layers, bidirectional, batch_first, variable lengths, initial state given)
SHAPES = [
    (1, False, False, False, False),
    (2, True, False, True, True),
    (2, False, True, True, False),
    (1, True, True, False, True),
    (3, True, False, True, True),
]


def _random_state(rng, layer, B, dtype):
    c = layer.config
    shape = (c.num_layers * c.directions, B, c.hidden_size)
    if c.mode == "lstm":
        return tuple(rng.standard_normal(shape).astype(dtype) for _ in range(2))
    return rng.standard_normal(shape).astype(dtype)


def _as_tuple(s):
    return s if isinstance(s, tuple) else (s,)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "L{}-bi{:d}-bf{:d}-len{:d}-s0{:d}".format(*s))
@pytest.mark.parametrize("mode", MODES)
def test_matches_torch(mode, shape, dtype):
    num_layers, bidirectional, batch_first, variable, with_state = shape
    rng = np.random.default_rng(hash((mode, shape, dtype)) % 2**32)
    T, B, E, H = 7, 5, 4, 6
    layer = Recurrent(RecurrentConfig(mode, E, H, num_layers, bidirectional, 0.0, batch_first, dtype),
                      rng=rng)
    for p in layer.params.values():       # non-zero, not too small: every term matters
        p[...] = rng.uniform(-0.6, 0.6, p.shape)
    x = rng.standard_normal((B, T, E) if batch_first else (T, B, E)).astype(dtype)
    lengths = np.array([4, 7, 1, 7, 3]) if variable else None
    state0 = _random_state(rng, layer, B, dtype) if with_state else None

    out, final, cache = layer.forward(x, state0, lengths)
    module = torch_twin(layer)
    out_t, final_t, x_t, s0_t = run_torch(module, x, state0, lengths)

    tol = TOL[dtype]
    assert rel_error(out, out_t.detach().numpy()) < tol
    for ours, theirs in zip(_as_tuple(final), _as_tuple(final_t)):
        assert rel_error(ours, theirs.detach().numpy()) < tol

    d_out = rng.standard_normal(out.shape).astype(dtype)
    if lengths is not None:               # torch's padded outputs are constant zeros
        steps = np.arange(T)[:, None] < lengths[None, :]            # (T, B)
        d_out *= (steps.T if batch_first else steps)[..., None]
    d_final = _random_state(rng, layer, B, dtype)
    loss = (out_t * torch.from_numpy(d_out)).sum()
    for f, d in zip(_as_tuple(final_t), _as_tuple(d_final)):
        loss = loss + (f * torch.from_numpy(d)).sum()
    loss.backward()
    dx, d_state0, grads = layer.backward(cache, d_out, d_final)

    assert rel_error(dx, x_t.grad.numpy()) < tol
    if with_state:
        for ours, theirs in zip(_as_tuple(d_state0), _as_tuple(s0_t)):
            assert rel_error(ours, theirs.grad.numpy()) < tol
    assert_param_grads_match(grads, module, dtype, tol, nonzero=True)


def test_padding_does_not_change_outputs_states_or_gradients():
    """Garbage after a sequence's end must be invisible: outputs, final state and gradients of
    each sequence equal those of running it alone."""
    rng = np.random.default_rng(3)
    layer = Recurrent(RecurrentConfig("lstm", 3, 4, 2, True, dtype="float64"), rng=rng)
    lengths = np.array([2, 5, 3])
    x = rng.standard_normal((5, 3, 3))
    x_noisy = x.copy()
    for b, n in enumerate(lengths):
        x_noisy[n:, b] = 1e3 * rng.standard_normal((5 - n, 3))
    out, (h, c), cache = layer.forward(x_noisy, lengths=lengths)
    d_out = rng.standard_normal(out.shape)
    dx, _, _ = layer.backward(cache, d_out)
    for b, n in enumerate(lengths):
        out_b, (h_b, c_b), cache_b = layer.forward(x[:n, b:b + 1])
        np.testing.assert_allclose(out[:n, b], out_b[:, 0], rtol=1e-12, atol=1e-12)
        assert not out[n:, b].any()
        np.testing.assert_allclose(h[:, b], h_b[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c[:, b], c_b[:, 0], rtol=1e-12, atol=1e-12)
        dx_b, _, _ = layer.backward(cache_b, d_out[:n, b:b + 1])
        np.testing.assert_allclose(dx[:n, b], dx_b[:, 0], rtol=1e-12, atol=1e-12)
        assert not dx[n:, b].any()


def test_float32_by_default_and_float64_on_request():
    x = np.ones((3, 2, 4))
    for dtype in ("float32", "float64"):
        layer = Recurrent(RecurrentConfig("gru", 4, 5, dtype=dtype))
        out, (h, c), cache = layer.forward(x)
        assert out.dtype == h.dtype == np.dtype(dtype) and c is None
        _, _, grads = layer.backward(cache, np.ones_like(out))
        assert all(g.dtype == np.dtype(dtype) for g in grads.values())
    assert Recurrent(RecurrentConfig("lstm", 4, 5)).params["weight_hh_l0"].dtype == np.float32


@pytest.mark.parametrize("mode", MODES)
def test_truncated_bptt_matches_torch_with_detach(mode):
    from bptt.truncated import chunk_slices, truncated_bptt
    rng = np.random.default_rng(21)
    layer = Recurrent(RecurrentConfig(mode, 3, 5, num_layers=2, dtype="float64"), rng=rng)
    T, B, k = 11, 2, 4
    x = rng.standard_normal((T, B, 3))
    w = rng.standard_normal((T, B, 5))
    total, grads, final = truncated_bptt(layer, x, k, lambda out, s: (float(np.sum(out * w[s])), w[s]))

    module = torch_twin(layer)
    state, total_t = None, 0.0
    for s in chunk_slices(T, k):
        out_t, state = module(torch.from_numpy(x[s]), state)
        loss = (out_t * torch.from_numpy(w[s])).sum()
        loss.backward()                                  # grads accumulate over chunks
        total_t += loss.item()
        state = tuple(h.detach() for h in state) if isinstance(state, tuple) else state.detach()
    assert abs(total - total_t) < 1e-10 * max(1.0, abs(total_t))
    for ours, theirs in zip(_as_tuple(final), _as_tuple(state)):
        assert rel_error(ours, theirs.numpy()) < 1e-10
    for name, p in module.named_parameters():
        assert rel_error(grads[name], p.grad.numpy()) < 1e-10, name

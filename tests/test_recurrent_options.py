"""PyTorch's layer options on every path: bias=False, the LSTM's proj_size (weight_hr), unbatched
(T, E) input, and fresh weights for layers built without a generator (bptt.manual_seed). Each
with finite differences on the reference path, every path against the reference, and parity
with torch.nn."""
import numpy as np
import pytest
import torch

import bptt
from bptt import Recurrent, RecurrentConfig
from bptt import State
from bptt.backend import numba_installed, use_backend
from bptt.gradcheck import check_grads, rel_error
from bptt.layers import Dense
from torch_reference import assert_param_grads_match, run_torch, torch_twin

PATHS = ["reference", "numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_installed(), reason="numba is not installed (pip install 'bptt[fast]')"))]
TOL = {"float64": 1e-10, "float32": 1e-5}
# (mode, options): the new options, alone and together
OPTIONS = [("rnn_tanh", {"bias": False}), ("gru", {"bias": False}), ("lstm", {"bias": False}),
           ("lstm", {"proj_size": 3}), ("lstm", {"proj_size": 2, "bias": False})]
IDS = [f"{m}-{'-'.join(f'{k}{v}' for k, v in o.items())}" for m, o in OPTIONS]


def _layer(mode, options, dtype="float64", num_layers=2, bidirectional=True, E=4, H=5, rng=None):
    rng = np.random.default_rng(0) if rng is None else rng
    layer = Recurrent(RecurrentConfig(mode, E, H, num_layers, bidirectional, dtype=dtype, **options),
                      rng=rng)
    for p in layer.params.values():                 # non-zero, not too small: every term matters
        p[...] = rng.uniform(-0.7, 0.7, p.shape)
    return layer


def _state(layer, rng, B, dtype="float64"):
    c = layer.config
    L = c.num_layers * c.directions
    h = rng.standard_normal((L, B, c.state_size)).astype(dtype)
    return (h, rng.standard_normal((L, B, c.hidden_size)).astype(dtype)) if c.mode == "lstm" else h


def _flat(s):
    """The arrays of a state: a State's (h,) or (h, c), or an array h, or a pair (h, c)."""
    return State.of(s).arrays() if isinstance(s, State) else s if isinstance(s, tuple) else (s,)


@pytest.mark.parametrize("mode,options", OPTIONS, ids=IDS)
def test_parameters_have_pytorchs_names_and_shapes(mode, options):
    layer = _layer(mode, options)
    module = torch_twin(layer)
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == \
        {k: v.shape for k, v in layer.params.items()}


@pytest.mark.parametrize("mode,options", OPTIONS, ids=IDS)
def test_gradients_match_finite_differences_on_the_reference_path(mode, options):
    rng = np.random.default_rng(1)
    layer = _layer(mode, options, rng=rng)
    T, B = 5, 3
    x = rng.standard_normal((T, B, 4))
    lengths = np.array([3, 5, 2])
    state0 = _state(layer, rng, B)
    w_final = _state(layer, rng, B)
    with use_backend("reference"):
        out, _, cache = layer.forward(x, state0, lengths)
        w_out = rng.standard_normal(out.shape)

        def loss():
            o, f, _ = layer.forward(x, state0, lengths)
            return float(np.sum(o * w_out) + sum(np.sum(a * w) for a, w in zip(_flat(f), _flat(w_final))))

        dx, d_state0, grads = layer.backward(cache, w_out, w_final)
        arrays = dict(layer.params, x=x, **{f"s{k}": s for k, s in enumerate(_flat(state0))})
        grads = dict(grads, x=dx, **{f"s{k}": d for k, d in enumerate(_flat(d_state0))})
        errors = check_grads(loss, arrays, grads)
    assert max(errors.values()) < 1e-6, errors
    assert all(np.abs(grads[n]).max() > 0 for n in arrays)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode,options", OPTIONS, ids=IDS)
@pytest.mark.parametrize("path", PATHS)
def test_every_path_matches_torch(path, mode, options, dtype):
    rng = np.random.default_rng(2)
    layer = _layer(mode, options, dtype=dtype, rng=rng)
    T, B = 7, 5
    x = rng.standard_normal((T, B, 4)).astype(dtype)
    lengths = np.array([4, 7, 1, 7, 3])
    state0 = _state(layer, rng, B, dtype)
    with use_backend(path):
        out, final, cache = layer.forward(x, state0, lengths)
    module = torch_twin(layer)
    out_t, final_t, x_t, s0_t = run_torch(module, x, state0, lengths)
    tol = TOL[dtype]
    assert out.shape == tuple(out_t.shape) == (T, B, 2 * layer.config.state_size)
    assert rel_error(out, out_t.detach().numpy()) < tol
    for ours, theirs in zip(_flat(final), _flat(final_t)):
        assert rel_error(ours, theirs.detach().numpy()) < tol

    steps = (np.arange(T)[:, None] < lengths[None, :])[..., None]        # torch's padding is 0
    d_out = rng.standard_normal(out.shape).astype(dtype) * steps
    d_final = _state(layer, rng, B, dtype)
    loss = (out_t * torch.from_numpy(d_out)).sum()
    for f, d in zip(_flat(final_t), _flat(d_final)):
        loss = loss + (f * torch.from_numpy(d)).sum()
    loss.backward()
    with use_backend("reference"):                  # the cache decides: backward runs on `path`
        dx, d_state0, grads = layer.backward(cache, d_out, d_final)
    assert rel_error(dx, x_t.grad.numpy()) < tol
    for ours, theirs in zip(_flat(d_state0), _flat(s0_t)):
        assert rel_error(ours, theirs.grad.numpy()) < tol
    assert_param_grads_match(grads, module, dtype, tol)


@pytest.mark.parametrize("mode,options", [("gru", {}), ("lstm", {}), ("lstm", {"proj_size": 3}),
                                          ("rnn_relu", {"bias": False})])
@pytest.mark.parametrize("path", PATHS)
def test_unbatched_input_gives_unbatched_outputs_states_and_gradients_like_torch(path, mode, options):
    rng = np.random.default_rng(3)
    layer = _layer(mode, options, rng=rng)
    T = 6
    x = rng.standard_normal((T, 4))
    state0 = tuple(s[:, 0] for s in _flat(_state(layer, rng, 1)))
    state0 = state0 if mode == "lstm" else state0[0]
    with use_backend(path):
        out, final, cache = layer.forward(x, state0)
        P = layer.config.state_size
        assert out.shape == (T, 2 * P)
        assert _flat(final)[0].shape == (4, P)
        d_out = rng.standard_normal(out.shape)
        d_final = tuple(rng.standard_normal(f.shape) for f in _flat(final))
        d_final = d_final if mode == "lstm" else d_final[0]
        dx, d_state0, grads = layer.backward(cache, d_out, d_final)
        assert dx.shape == x.shape and _flat(d_state0)[0].shape == (4, P)
        # the same numbers as a batch of one
        out_b, final_b, cache_b = layer.forward(x[:, None], tuple(s[:, None] for s in _flat(state0))
                                                if mode == "lstm" else state0[:, None])
        dx_b, _, grads_b = layer.backward(cache_b, d_out[:, None], tuple(d[:, None] for d in _flat(d_final))
                                          if mode == "lstm" else d_final[:, None])
    np.testing.assert_array_equal(out, out_b[:, 0])
    np.testing.assert_array_equal(dx, dx_b[:, 0])
    for name in grads:
        np.testing.assert_array_equal(grads[name], grads_b[name])

    module = torch_twin(layer)                      # torch takes (T, E) and returns (T, D*P)
    out_t, final_t, x_t, s0_t = run_torch(module, x, state0)
    assert tuple(out_t.shape) == out.shape
    assert rel_error(out, out_t.detach().numpy()) < 1e-10
    for ours, theirs in zip(_flat(final), _flat(final_t)):
        assert tuple(theirs.shape) == ours.shape and rel_error(ours, theirs.detach().numpy()) < 1e-10
    loss = (out_t * torch.from_numpy(d_out)).sum()
    for f, d in zip(_flat(final_t), _flat(d_final)):
        loss = loss + (f * torch.from_numpy(d)).sum()
    loss.backward()
    assert rel_error(dx, x_t.grad.numpy()) < 1e-10
    for ours, theirs in zip(_flat(d_state0), _flat(s0_t)):
        assert rel_error(ours, theirs.grad.numpy()) < 1e-10


def test_unbatched_input_with_lengths_is_refused_saying_how_to_pass_one_sequence():
    layer = _layer("gru", {}, num_layers=1, bidirectional=False)
    with pytest.raises(ValueError, match=r"lengths need a batch: unbatched input \(T, E\)"):
        layer.forward(np.ones((4, 4)), lengths=np.array([3]))


def test_layers_built_without_a_generator_draw_fresh_weights_that_manual_seed_reproduces():
    bptt.manual_seed(123)
    a, b = bptt.LSTM(3, 4), bptt.LSTM(3, 4)
    dense = Dense(3, 2)
    assert not np.array_equal(a.params["weight_hh_l0"], b.params["weight_hh_l0"])
    bptt.manual_seed(123)
    a2, b2 = bptt.LSTM(3, 4), bptt.LSTM(3, 4)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], a2.params[name])
        np.testing.assert_array_equal(b.params[name], b2.params[name])
    np.testing.assert_array_equal(Dense(3, 2).params["weight"], dense.params["weight"])
    bptt.manual_seed(124)
    assert not np.array_equal(bptt.LSTM(3, 4).params["weight_hh_l0"], a.params["weight_hh_l0"])
    k = 1 / np.sqrt(4)                              # PyTorch's init bound, every parameter
    assert all(np.abs(p).max() <= k for p in a.params.values())


@pytest.mark.parametrize("bad,message", [
    (dict(mode="gru", proj_size=2), "proj_size is only for the LSTM"),
    (dict(mode="lstm", proj_size=5), "proj_size must be smaller than hidden_size, got 5 >= 5"),
    (dict(mode="lstm", proj_size=-1), "proj_size must be a non-negative integer")])
def test_invalid_proj_size_is_refused_with_the_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        RecurrentConfig(input_size=3, hidden_size=5, **bad)


def test_initialisations_that_cannot_apply_say_why():
    from bptt.init import forget_bias_, orthogonal_
    with pytest.raises(ValueError, match=r"square \(H, H\) gate blocks; a projecting LSTM's are \(H, proj_size\) = \(5, 2\)"):
        orthogonal_(_layer("lstm", {"proj_size": 2}))
    with pytest.raises(ValueError, match="needs biases; this layer was built with bias=False"):
        forget_bias_(_layer("lstm", {"bias": False}))

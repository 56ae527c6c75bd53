"""Each fast path (the fast NumPy path, and the compiled numba path when numba is installed)
against the reference path: the same outputs, final states and gradients, float64 to 1e-12 and
float32 to 1e-5 (max-normalised), on stacked bidirectional layers with unsorted padded lengths
and an initial state."""
import zlib

import numpy as np
import pytest

from bptt import Recurrent, RecurrentConfig
from bptt import State
from bptt.backend import numba_installed, use_backend
from bptt.gradcheck import rel_error

FAST = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_installed(), reason="numba is not installed (pip install 'bptt[fast]')"))]
MODES = ["rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm", "gru", "mingru", "minlstm"]
TOL = {"float64": 1e-12, "float32": 1e-5}
# (num_layers, bidirectional, lengths, B): padded and unsorted, all full, one sequence
# B = 10 with lengths falling below 8: the compiled path's products switch from BLAS to its own
# loops when few rows remain (numba_common.step_abi)
SHAPES = [(2, True, [4, 7, 1, 7, 3], 5), (1, False, None, 3), (1, True, [6], 1), (3, False, [2, 7, 5], 3),
          (2, True, [7, 7, 6, 5, 7, 7, 2, 7, 7, 1], 10)]


def _flat(s):
    """The arrays of a state: a State's (h,) or (h, c), or an array h, or a pair (h, c)."""
    return State.of(s).arrays() if isinstance(s, State) else s if isinstance(s, tuple) else (s,)


def _run(layer, x, state0, lengths, d_out, d_final):
    out, final, cache = layer.forward(x, state0, lengths, training=True)
    dx, d_state0, grads = layer.backward(cache, d_out, d_final)
    return {"out": out, **{f"final{k}": f for k, f in enumerate(_flat(final))}, "dx": dx,
            **{f"d_state0{k}": d for k, d in enumerate(_flat(d_state0))}, **grads}


def _check_against_the_reference(path, layer, rng, T, B, lengths, dtype):
    """Outputs, final states and every gradient of ``path`` and of the reference, on random
    non-zero parameters, inputs, initial states and output gradients."""
    c = layer.config
    for p in layer.params.values():
        p[...] = rng.uniform(-0.7, 0.7, p.shape)
    x = rng.standard_normal((T, B, c.input_size)).astype(dtype)
    lengths = None if lengths is None else np.array(lengths)
    sizes = (c.state_size, c.hidden_size)[:layer.cell.num_states]
    L = c.num_layers * c.directions
    state0 = tuple(rng.standard_normal((L, B, n)).astype(dtype) for n in sizes)
    d_final = tuple(rng.standard_normal((L, B, n)).astype(dtype) for n in sizes)
    state0, d_final = (state0, d_final) if len(sizes) == 2 else (state0[0], d_final[0])
    d_out = rng.standard_normal((T, B, c.directions * c.state_size)).astype(dtype)
    with use_backend("reference"):
        want = _run(layer, x, state0, lengths, d_out, d_final)
    with use_backend(path):
        got = _run(layer, x, state0, lengths, d_out, d_final)
    assert set(got) == set(want)
    for name in want:
        assert got[name].dtype == np.dtype(dtype), name
        assert rel_error(got[name], want[name]) < TOL[dtype], (name, rel_error(got[name], want[name]))
        assert np.abs(want[name]).max() > 0, name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"L{s[0]}-bi{s[1]:d}-B{s[3]}")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", FAST)
def test_fast_path_equals_the_reference(path, mode, shape, dtype):
    num_layers, bidirectional, lengths, B = shape
    rng = np.random.default_rng(zlib.crc32(f"{mode}{num_layers}{B}".encode()))
    layer = Recurrent(RecurrentConfig(mode, 4, 6, num_layers, bidirectional, dtype=dtype), rng=rng)
    _check_against_the_reference(path, layer, rng, 7, B, lengths, dtype)


@pytest.mark.parametrize("path", FAST)
def test_backward_runs_on_the_path_that_ran_forward(path):
    rng = np.random.default_rng(5)
    layer = Recurrent(RecurrentConfig("lstm", 3, 4, dtype="float64"), rng=rng)
    x = rng.standard_normal((5, 2, 3))
    with use_backend(path):
        out, _, cache = layer.forward(x)
    assert {c.backend for caches in cache.layers for c in caches} == {path}
    with use_backend("reference"):
        dx, _, grads = layer.backward(cache, np.ones_like(out))
        _, _, ref_cache = layer.forward(x)
        dx_ref, _, grads_ref = layer.backward(ref_cache, np.ones_like(out))
    assert rel_error(dx, dx_ref) < 1e-12
    assert all(rel_error(grads[k], grads_ref[k]) < 1e-12 for k in grads)


@pytest.mark.skipif(not numba_installed(), reason="numba is not installed (pip install 'bptt[fast]')")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", MODES)
def test_numba_path_without_a_blas_multiplies_in_its_own_loops_and_equals_the_reference(
        mode, dtype, monkeypatch):
    """Where no CBLAS can be found (gemm_abi() == 0) the compiled loops multiply themselves."""
    from bptt.cells import numba_common
    monkeypatch.setattr(numba_common, "gemm_abi", lambda: 0)
    test_fast_path_equals_the_reference("numba", mode, SHAPES[0], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode,options", [("lstm", {"proj_size": 3}), ("lstm", {"bias": False}),
                                          ("gru", {"bias": False}), ("rnn_tanh", {"bias": False}),
                                          ("mingru", {"bias": False}), ("minlstm", {"bias": False}),
                                          ("lstm", {"proj_size": 2, "bias": False})])
@pytest.mark.parametrize("path", FAST)
def test_fast_path_equals_the_reference_with_pytorchs_layer_options(path, mode, options, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{mode}{options}".encode()))
    layer = Recurrent(RecurrentConfig(mode, 4, 6, 2, True, dtype=dtype, **options), rng=rng)
    _check_against_the_reference(path, layer, rng, 7, 5, [4, 7, 1, 7, 3], dtype)

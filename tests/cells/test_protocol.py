"""A cell registered from two step functions (a toy leaky-gated cell, here) runs in every
topology (stacked, bidirectional, packed, batch_first, dropout, bias=False, unbatched, a State
in and out) and on every path (the fast ones run it on the reference path and say so once),
with its gradients checked against finite differences; and it reaches the models, the jobs'
rules and bptt.diagnostics."""
from typing import NamedTuple

import numpy as np
import pytest

import bptt
from bptt.backend import for_cell, numba_installed, use_backend
from bptt.cells import MODES, Params, get_cell, register_cell, sigmoid, unregister_cell
from bptt.gradcheck import check_cell, check_layer, rel_error

PATHS = ["reference", "numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_installed(), reason="numba is not installed"))]


class ToyCache(NamedTuple):
    x: np.ndarray           # (B, In)
    h_prev: np.ndarray      # (B, H)
    z: np.ndarray           # (B, H)
    n: np.ndarray           # (B, H)
    params: Params


def toy_forward(x_t, state, params):
    """z = sigma(a_z), n = tanh(a_n), h_t = (1 - z) h_{t-1} + z n, a = U x + b_ih + W h + b_hh."""
    (h_prev,) = state
    U, W, b_ih, b_hh = params[:4]
    a_z, a_n = np.split(x_t @ U.T + b_ih + h_prev @ W.T + b_hh, 2, axis=1)
    z, n = sigmoid(a_z), np.tanh(a_n)
    return ((1 - z) * h_prev + z * n,), ToyCache(x_t, h_prev, z, n, params)


def toy_backward(d_state, cache):
    (dh,) = d_state
    x, h_prev, z, n, params = cache
    da = np.concatenate([dh * (n - h_prev) * z * (1 - z), dh * z * (1 - n * n)], axis=1)
    db = da.sum(axis=0)
    return da @ params.U, (dh * (1 - z) + da @ params.W,), Params(da.T @ x, da.T @ h_prev, db, db)


@pytest.fixture
def toy():
    name = "toy_leaky"
    cell = register_cell(name, toy_forward, toy_backward, blocks=("z", "n"), states=("h",))
    yield cell
    unregister_cell(name)


def _layer(name, **kw):
    layer = bptt.Recurrent(bptt.RecurrentConfig(name, 3, 4, dtype="float64", **kw),
                           rng=np.random.default_rng(1))
    for p in layer.params.values():                  # random, non-zero, biases included
        p[...] = np.random.default_rng(p.size).uniform(-0.8, 0.8, p.shape)
    return layer


def test_a_registered_cell_is_a_mode_and_its_step_passes_finite_differences(toy):
    assert "toy_leaky" in MODES and get_cell("toy_leaky") is toy
    errors = check_cell("toy_leaky")
    assert set(errors) == {"x", "state.h", "U", "W", "b_ih", "b_hh"}
    assert max(errors.values()) < 1e-8, errors
    with pytest.raises(ValueError, match="already registered"):
        register_cell("toy_leaky", toy_forward, toy_backward, blocks=("z", "n"))


TOPOLOGIES = [dict(), dict(num_layers=2, bidirectional=True), dict(num_layers=3, dropout=0.4),
              dict(batch_first=True, bias=False), dict(num_layers=2, bidirectional=True, batch_first=True)]


@pytest.mark.parametrize("kw", TOPOLOGIES)
@pytest.mark.parametrize("lengths", [None, [5, 2, 4]])
def test_a_registered_cell_passes_finite_differences_in_every_topology(toy, kw, lengths):
    layer = _layer("toy_leaky", **kw)
    lengths = None if lengths is None else np.array(lengths)
    with use_backend("reference"):
        errors = check_layer(layer, T=5, batch=3, lengths=lengths, training=True, max_elements=12)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("path", PATHS)
def test_every_path_runs_a_cell_without_kernels_on_the_reference_path_saying_so_once(toy, path):
    layer = _layer("toy_leaky", num_layers=2, bidirectional=True)
    rng = np.random.default_rng(3)
    x, lengths = rng.standard_normal((6, 3, 3)), np.array([6, 2, 5])
    h0, d_out = rng.standard_normal((4, 3, 4)), rng.standard_normal((6, 3, 8))

    def run():
        out, final, cache = layer.forward(x, bptt.State(h0), lengths)
        return out, final.h, *layer.backward(cache, d_out, bptt.State(final.h))[::2]

    with use_backend("reference"):
        want = run()
    with use_backend(path):
        if path == "reference":
            got = run()
        else:
            said = f"'toy_leaky' has no kernels for the {path} path"
            with pytest.warns(RuntimeWarning, match=said) as said:
                got = run()
            assert len(said) == 1                   # once, for 4 directions' forward and backward
        assert for_cell(toy)[0] == "reference"
    for w, g in zip(want[:3], got[:3]):
        np.testing.assert_array_equal(w, g)
    assert all(np.array_equal(want[3][k], got[3][k]) for k in want[3])


def test_a_registered_cell_takes_unbatched_input_and_states_like_the_built_in_ones(toy):
    layer = _layer("toy_leaky", num_layers=2)
    x = np.random.default_rng(0).standard_normal((4, 3))
    h0 = np.random.default_rng(1).standard_normal((2, 4))
    out, final = layer(x, h0)
    out_b, final_b = layer(x[:, None], h0[:, None])
    np.testing.assert_array_equal(out, out_b[:, 0])
    np.testing.assert_array_equal(final.h, final_b.h[:, 0])
    assert final.c is None


def test_a_registered_cell_reaches_models_job_rules_and_diagnostics(toy):
    from bptt.diagnostics import diagnose, jacobian_product
    from bptt.jobs._rules import rule
    from bptt.models.regressor import Regressor, RegressorBatch, RegressorConfig
    assert rule("cell")[1]("toy_leaky") == ""
    model = Regressor(RegressorConfig(input_size=3, hidden_size=4, mode="toy_leaky", dtype="float64"))
    x = np.random.default_rng(0).standard_normal((7, 2, 3))
    report = diagnose(model, RegressorBatch(x, np.ones((2, 1))))
    dh = report.curves()["l0"]["dh"]
    assert np.all(np.isfinite(dh)) and dh[0] > 0
    assert set(report.spectrum["weight_hh_l0"]) == {"z", "n", "all"}
    # ds_n/ds_t through the toy's step_backward, against finite differences of its forward
    layer = model.rnn
    _, _, cache = layer.forward(x)
    J = jacobian_product(layer, cache, t=4, row=1)

    def h_last(h4):
        with use_backend("reference"):
            out, _ = layer(x[5:, 1:2], h4[None, None])
        return out[-1, 0]

    h4 = layer(x[:5, 1:2])[0][-1, 0]
    eps = 1e-6
    numeric = np.stack([(h_last(h4 + eps * e) - h_last(h4 - eps * e)) / (2 * eps) for e in np.eye(4)], axis=1)
    assert rel_error(J, numeric) < 1e-7

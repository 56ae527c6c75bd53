"""Initialisations of a recurrent layer, in place: orthogonal, identity (IRNN), forget-gate bias,
scaling; and that none of them is applied by default."""
import numpy as np
import pytest

from bptt import Recurrent, RecurrentConfig
from bptt.diagnostics import jacobian_norms
from bptt.init import apply_init, forget_bias_, identity_, orthogonal_, orthogonal_matrix, scale_
from bptt.models.regressor import Regressor, RegressorConfig
from bptt.sequence import step_cache


def _layer(mode, **kw):
    return Recurrent(RecurrentConfig(mode, 3, 5, dtype="float64", **kw), rng=np.random.default_rng(0))


@pytest.mark.parametrize("mode,gates", [("rnn_tanh", 1), ("lstm", 4), ("gru", 3)])
def test_orthogonal_makes_every_gate_block_gain_times_orthogonal(mode, gates):
    layer = _layer(mode, num_layers=2, bidirectional=True)
    before = {n: p.copy() for n, p in layer.params.items()}
    refs = {n: p for n, p in layer.params.items()}
    orthogonal_(layer, gain=1.5, rng=np.random.default_rng(1))
    for name, p in layer.params.items():
        assert p is refs[name]                                         # written in place
        if name.startswith("weight_hh"):
            blocks = p.reshape(gates, 5, 5)
            for B in blocks:
                np.testing.assert_allclose(B.T @ B, 2.25 * np.eye(5), atol=1e-12)
            if gates > 1:
                assert not np.allclose(blocks[0], blocks[1])
        else:
            np.testing.assert_array_equal(p, before[name])


def test_orthogonal_matrix_is_seeded_and_uniform_in_sign():
    a = orthogonal_matrix(4, np.random.default_rng(3))
    np.testing.assert_array_equal(a, orthogonal_matrix(4, np.random.default_rng(3)))
    # Haar: the mean of many such matrices is ~0 (without the sign fix the diagonal leans positive)
    mean = np.mean([orthogonal_matrix(3, np.random.default_rng(s)) for s in range(2000)], axis=0)
    assert np.abs(mean).max() < 0.06


def test_identity_init_makes_a_relu_rnn_an_integrator_with_unit_jacobians():
    layer = _layer("rnn_relu")
    identity_(layer)
    np.testing.assert_array_equal(layer.params["weight_hh_l0"], np.eye(5))
    assert all(not p.any() for n, p in layer.params.items() if n.startswith("bias"))
    rng = np.random.default_rng(2)
    x = rng.random((8, 2, 3))
    layer.params["weight_ih_l0"][...] = np.abs(layer.params["weight_ih_l0"])   # positive drive
    out, h_n, cache = layer.forward(x)
    np.testing.assert_allclose(out[-1], np.cumsum(x @ layer.params["weight_ih_l0"].T, axis=0)[-1])
    np.testing.assert_allclose(jacobian_norms(layer, cache)["l0"].state, 1.0)


def test_forget_bias_sets_the_forget_gate_total_and_nothing_else():
    layer = _layer("lstm", num_layers=2)
    before = {n: p.copy() for n, p in layer.params.items()}
    forget_bias_(layer, 1.0)
    H = 5
    for l in range(2):
        b = layer.params[f"bias_ih_l{l}"] + layer.params[f"bias_hh_l{l}"]
        np.testing.assert_allclose(b[H:2 * H], 1.0)
        for name in (f"bias_ih_l{l}", f"bias_hh_l{l}"):
            np.testing.assert_array_equal(np.delete(layer.params[name], np.s_[H:2 * H]),
                                          np.delete(before[name], np.s_[H:2 * H]))
    # with zero input and state, the first step's forget gate is sigma(1) exactly
    layer.params["weight_ih_l0"][...] = 0
    _, _, cache = layer.forward(np.zeros((1, 2, 3)))
    step = step_cache(layer.cell, cache.layers[0][0], layer._direction_params(0, 0), 0, slice(None))
    np.testing.assert_allclose(step.f, 1 / (1 + np.exp(-1.0)))
    with pytest.raises(ValueError, match="needs an LSTM"):
        forget_bias_(_layer("gru"))


def test_nothing_is_applied_by_default_so_a_model_starts_like_pytorch():
    ref = Recurrent(RecurrentConfig("lstm", 2, 6), np.random.default_rng(7))
    model = Regressor(RegressorConfig(2, 6, mode="lstm"), np.random.default_rng(7))
    for name, p in ref.params.items():
        np.testing.assert_array_equal(model.params[f"rnn.{name}"], p)
    k = 1 / np.sqrt(6)
    assert all(np.abs(p).max() <= k for p in ref.params.values())
    with_bias = Regressor(RegressorConfig(2, 6, mode="lstm", forget_bias=1.0), np.random.default_rng(7))
    np.testing.assert_allclose(with_bias.params["rnn.bias_ih_l0"][6:12], 1.0)
    with pytest.raises(ValueError, match="forget_bias applies to mode 'lstm'"):
        RegressorConfig(2, 6, mode="gru", forget_bias=1.0)


def test_scale_and_apply_init_by_name():
    layer = _layer("rnn_tanh")
    W = layer.params["weight_hh_l0"].copy()
    sigma = np.linalg.norm(W, 2)
    scale_(layer, 3.0)
    assert np.linalg.norm(layer.params["weight_hh_l0"], 2) == pytest.approx(3 * sigma)
    apply_init(layer, "default", gain=0.5)
    np.testing.assert_allclose(layer.params["weight_hh_l0"], 1.5 * W)
    apply_init(layer, "identity", gain=2.0)
    np.testing.assert_array_equal(layer.params["weight_hh_l0"], 2 * np.eye(5))
    apply_init(layer, "orthogonal", gain=0.9)
    np.testing.assert_allclose(np.linalg.svd(layer.params["weight_hh_l0"])[1], 0.9)
    with pytest.raises(ValueError, match="init must be one of"):
        apply_init(layer, "xavier")

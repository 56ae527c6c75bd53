"""The diagnostics on a projecting LSTM (proj_size) and on unbatched input: the Jacobian product
ds_n/ds_t, s = (h, c) with h of size proj_size, against finite differences of the forward."""
import numpy as np

from bptt import Recurrent, RecurrentConfig
from bptt.diagnostics import jacobian_product, state_gradients


def _flat_state(final, row):
    return np.concatenate([p[0, row] for p in final])


def test_jacobian_product_of_a_projecting_lstm_matches_finite_differences():
    rng = np.random.default_rng(6)
    layer = Recurrent(RecurrentConfig("lstm", 3, 5, dtype="float64", proj_size=2), rng=rng)
    for p in layer.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    T, B, row, t = 6, 2, 1, 2
    x = rng.standard_normal((T, B, 3))
    _, _, cache = layer.forward(x)
    _, state_t, _ = layer.forward(x[:t + 1])                           # the state after x_t
    s_t = [state_t[0][0].copy(), state_t[1][0].copy()]                 # h (B, 2), c (B, 5)
    sizes = (2, 5)
    J = np.empty((7, 7))
    for j in range(7):
        part, k = (0, j) if j < 2 else (1, j - 2)
        cols = []
        for sign in (1, -1):
            s = [a.copy() for a in s_t]
            s[part][row, k] += sign * 1e-6
            cols.append(_flat_state(layer.forward(x[t + 1:], (s[0][None], s[1][None]))[1], row))
        J[:, j] = (cols[0] - cols[1]) / 2e-6
    P = jacobian_product(layer, cache, t, row=row)
    assert P.shape == (sum(sizes), sum(sizes))
    np.testing.assert_allclose(P, J, rtol=1e-7, atol=1e-9)


def test_state_gradients_of_unbatched_input_equal_those_of_a_batch_of_one():
    rng = np.random.default_rng(7)
    layer = Recurrent(RecurrentConfig("gru", 3, 4, 2, True, dtype="float64"), rng=rng)
    x = rng.standard_normal((5, 3))
    d_out = rng.standard_normal((5, 8))
    _, _, cache = layer.forward(x)
    _, _, cache_b = layer.forward(x[:, None])
    got = state_gradients(layer, cache, d_out)
    want = state_gradients(layer, cache_b, d_out[:, None])
    assert set(got) == {"l0", "l0_reverse", "l1", "l1_reverse"}
    for key in got:
        np.testing.assert_array_equal(got[key].h, want[key].h)
        assert np.abs(got[key].h).max() > 0

"""The reference path (cells/rnn.py, lstm.py, gru.py, mingru.py, minlstm.py and the loop of
cells/reference.py) against finite differences in float64: every input, state and parameter of
one step, then of a whole length-sorted batch with padding."""
import numpy as np
import pytest

from bptt.cells import Params, get_cell, reference
from bptt.cells import lstm as lstm_cell
from bptt.gradcheck import check_grads
from bptt.sequence import pack

MODES = ["rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm", "gru", "mingru", "minlstm"]


def _params(rng, cell, In, H):
    """Random non-zero parameters; no W, no bias_hh for minGRU, minLSTM (not recurrent)."""
    G = cell.gates * H
    U, W = rng.uniform(-0.8, 0.8, (G, In)), rng.uniform(-0.8, 0.8, (G, H))
    b_ih, b_hh = rng.uniform(-0.5, 0.5, G), rng.uniform(-0.5, 0.5, G)
    return Params(U, W, b_ih, b_hh) if cell.recurrent else Params(U, None, b_ih, None)


def _present(params: Params) -> dict:
    return {k: v for k, v in params._asdict().items() if v is not None}


@pytest.mark.parametrize("mode", MODES)
def test_step_backward_matches_finite_differences_of_step_forward(mode):
    cell = get_cell(mode)
    rng = np.random.default_rng(1)
    B, In, H = 3, 4, 5
    params = _params(rng, cell, In, H)
    x = rng.standard_normal((B, In))
    state = tuple(rng.standard_normal((B, H)) for _ in range(cell.num_states))
    w = tuple(rng.standard_normal((B, H)) for _ in range(cell.num_states))   # dL/d new state

    def loss():
        new, _ = cell.step_forward(x, state, params)
        return float(sum(np.sum(s * v) for s, v in zip(new, w)))

    _, cache = cell.step_forward(x, state, params)
    dx, d_prev, d_params = cell.step_backward(w, cache)
    arrays = {"x": x, **{f"s{k}": s for k, s in enumerate(state)}, **_present(params)}
    grads = {"x": dx, **{f"s{k}": d for k, d in enumerate(d_prev)}, **_present(d_params)}
    errors = check_grads(loss, arrays, grads)
    assert max(errors.values()) < 1e-7, errors
    assert all(np.abs(g).max() > 1e-3 for g in grads.values()), "every term must matter"


def test_lstm_step_forward_is_the_equations_written_out_for_one_row():
    """One row, one unit at a time, with scalar math: a check that does not share code."""
    import math
    rng = np.random.default_rng(2)
    In, H = 3, 2
    U, W = rng.uniform(-1, 1, (4 * H, In)), rng.uniform(-1, 1, (4 * H, H))
    b_ih, b_hh = rng.uniform(-1, 1, 4 * H), rng.uniform(-1, 1, 4 * H)
    x, h0, c0 = rng.standard_normal(In), rng.standard_normal(H), rng.standard_normal(H)
    (h, c), _ = lstm_cell.step_forward(x[None], (h0[None], c0[None]), Params(U, W, b_ih, b_hh))

    def sig(v):
        return 1 / (1 + math.exp(-v))

    for j in range(H):
        a = [sum(U[k * H + j, e] * x[e] for e in range(In)) + b_ih[k * H + j]
             + sum(W[k * H + j, m] * h0[m] for m in range(H)) + b_hh[k * H + j] for k in range(4)]
        i, f, g, o = sig(a[0]), sig(a[1]), math.tanh(a[2]), sig(a[3])
        c_j = f * c0[j] + i * g
        assert c[0, j] == pytest.approx(c_j, rel=1e-13)
        assert h[0, j] == pytest.approx(o * math.tanh(c_j), rel=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_reference_loop_gradients_match_finite_differences_with_padding(mode):
    cell = get_cell(mode)
    rng = np.random.default_rng(3)
    T, B, In, H = 6, 4, 3, 5
    packing = pack(np.array([6, 4, 4, 2]), T, B)
    params = _params(rng, cell, In, H)
    x = rng.standard_normal((T, B, In))
    state0 = tuple(rng.standard_normal((B, H)) for _ in range(cell.num_states))
    real = (np.arange(T)[:, None] < packing.lengths)[..., None]          # (T, B, 1)
    w_out = rng.standard_normal((T, B, H)) * real
    w_final = tuple(rng.standard_normal((B, H)) for _ in range(cell.num_states))

    def loss():
        out, finals, _ = reference.forward(cell, x, params, state0, packing)
        return float(np.sum(out * w_out) + sum(np.sum(f * w) for f, w in zip(finals, w_final)))

    out, finals, cache = reference.forward(cell, x, params, state0, packing)
    assert not out[~real[..., 0]].any()                                  # zero after each end
    dx, d_state0, d_params = reference.backward(cell, w_out, w_final, cache, params)
    arrays = {"x": x, **{f"s{k}": s for k, s in enumerate(state0)}, **_present(params)}
    grads = {"x": dx, **{f"s{k}": d for k, d in enumerate(d_state0)}, **_present(d_params)}
    errors = check_grads(loss, arrays, grads)
    assert max(errors.values()) < 1e-7, errors
    assert not dx[~real[..., 0]].any()                                   # nothing into padding


def test_reference_final_state_is_the_state_at_each_rows_last_real_step():
    cell = get_cell("gru")
    rng = np.random.default_rng(4)
    T, B, In, H = 5, 3, 2, 4
    packing = pack(np.array([5, 3, 1]), T, B)
    params = _params(rng, cell, In, H)
    x = rng.standard_normal((T, B, In))
    state0 = (rng.standard_normal((B, H)),)
    out, (h_n,), _ = reference.forward(cell, x, params, state0, packing)
    for b, n in enumerate(packing.lengths):
        alone, (h_b,), _ = reference.forward(cell, x[:n, b:b + 1], params, (state0[0][b:b + 1],),
                                             pack(None, n, 1))
        np.testing.assert_allclose(h_n[b], h_b[0], rtol=1e-14, atol=1e-15)   # BLAS rounding only
        np.testing.assert_array_equal(out[n - 1, b], h_n[b])

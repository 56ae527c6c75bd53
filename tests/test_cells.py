"""Each cell's own forward/backward over time (cells/rnn.py, lstm.py, gru.py), checked alone
against finite differences in float64: the gradients of U x_t + b_ih (xp), the initial state,
W and bias_hh, on a length-sorted batch with padding."""
import numpy as np
import pytest

from bptt.cells import get_cell
from bptt.gradcheck import check_grads
from bptt.sequence import final_states, pack


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "rnn_sigmoid", "lstm", "gru"])
def test_cell_gradients_match_finite_differences(mode):
    cell = get_cell(mode)
    rng = np.random.default_rng(17)
    T, B, H = 6, 4, 5
    G = cell.gates * H
    packing = pack(np.array([6, 4, 4, 2]), T, B)
    xp = rng.standard_normal((T, B, G))
    W = rng.uniform(-0.7, 0.7, (G, H))
    b_hh = rng.uniform(-0.5, 0.5, G)
    state0 = tuple(rng.standard_normal((B, H)) for _ in range(cell.num_states))
    w_out = rng.standard_normal((T, B, H)) * (np.arange(T)[:, None] < packing.lengths)[..., None]
    w_final = tuple(rng.standard_normal((B, H)) for _ in range(cell.num_states))

    def loss():
        states, _ = cell.forward(xp.copy(), state0, W, b_hh, packing.batch_sizes)
        finals = final_states(states, packing)
        return float(np.sum(states[0][1:] * w_out) + sum(np.sum(f * w) for f, w in zip(finals, w_final)))

    _, cache = cell.forward(xp.copy(), state0, W, b_hh, packing.batch_sizes)
    dxp, d_state0, dW, db_hh = cell.backward(w_out, w_final, cache, W)
    arrays = {"xp": xp, "W": W, "b_hh": b_hh, **{f"state0_{k}": s for k, s in enumerate(state0)}}
    grads = {"xp": dxp, "W": dW, "b_hh": db_hh, **{f"state0_{k}": d for k, d in enumerate(d_state0)}}
    errors = check_grads(loss, arrays, grads)
    assert max(errors.values()) < 1e-6, errors
    assert not dxp[2:, 3].any() and not dxp[4:, 1:].any()       # nothing flows into padding

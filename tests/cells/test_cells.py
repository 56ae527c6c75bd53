"""Each cell's own forward/backward over time (cells/rnn.py, lstm.py, gru.py), checked alone
against finite differences in float64: the gradients of U x_t + b_ih (xp), the initial state,
W and bias_hh, on a length-sorted batch with padding."""
import numpy as np
import pytest

from bptt.cells import Params, get_cell
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
        states, _ = cell.fast.forward(xp.copy(), state0, W, b_hh, packing.batch_sizes)
        finals = final_states(states, packing)
        return float(np.sum(states[0][1:] * w_out) + sum(np.sum(f * w) for f, w in zip(finals, w_final)))

    _, cache = cell.fast.forward(xp.copy(), state0, W, b_hh, packing.batch_sizes)
    dxp, d_state0, dW, db_hh, _ = cell.fast.backward(w_out, w_final, cache, W)
    arrays = {"xp": xp, "W": W, "b_hh": b_hh, **{f"state0_{k}": s for k, s in enumerate(state0)}}
    grads = {"xp": dxp, "W": dW, "b_hh": db_hh, **{f"state0_{k}": d for k, d in enumerate(d_state0)}}
    errors = check_grads(loss, arrays, grads)
    assert max(errors.values()) < 1e-6, errors
    assert not dxp[2:, 3].any() and not dxp[4:, 1:].any()       # nothing flows into padding


@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_sigmoid", "lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("In", [4, 20])      # T*B = 15: folded weights (In = 4) or in place (20)
def test_folded_input_projection_runs_the_same_function_as_the_reference_forward(mode, reverse, In):
    """direction_forward folds bias_hh and the sigmoid halving into one product ([x_t, 1] times
    [s U | s (b_ih + ahead)]^T) and calls the loop; the cell's forward takes U x_t + b_ih."""
    from bptt.sequence import direction_forward, reverse_within
    cell = get_cell(mode)
    rng = np.random.default_rng(5)
    T, B, H = 5, 3, 6
    G = cell.gates * H
    packing = pack(np.array([5, 3, 2]), T, B)
    x = rng.standard_normal((T, B, In))
    U, W = rng.uniform(-0.6, 0.6, (G, In)), rng.uniform(-0.6, 0.6, (G, H))
    b_ih, b_hh = rng.uniform(-0.5, 0.5, G), rng.uniform(-0.5, 0.5, G)
    state0 = tuple(rng.standard_normal((B, H)) for _ in range(cell.num_states))
    out, finals, _ = direction_forward(cell, x, Params(U, W, b_ih, b_hh), state0, packing, reverse)
    x_in = reverse_within(x, packing) if reverse else x
    states, _ = cell.fast.forward(x_in @ U.T + b_ih, state0, W, b_hh, packing.batch_sizes)
    ref = states[0][1:]
    np.testing.assert_allclose(out, reverse_within(ref, packing) if reverse else ref, rtol=0, atol=1e-13)
    for f, r in zip(finals, final_states(states, packing)):
        np.testing.assert_allclose(f, r, rtol=0, atol=1e-13)


def test_pack_orders_rows_by_length_and_counts_running_rows():
    p = pack(np.array([2, 5, 3, 5]), 5, 4)
    np.testing.assert_array_equal(p.lengths, [5, 5, 3, 2])
    np.testing.assert_array_equal(p.perm, [1, 3, 2, 0])
    np.testing.assert_array_equal(p.batch_sizes, [4, 4, 3, 2, 2])
    np.testing.assert_array_equal(p.perm[p.inverse], np.arange(4))
    full = pack(np.full(3, 4), 4, 3)                    # no padding: same as lengths=None
    none = pack(None, 4, 3)
    for a, b in zip(full, none):
        assert (a is None and b is None) or np.array_equal(a, b)
    with pytest.raises(ValueError, match=r"lengths\[1\] = 6 is outside 1..5"):
        pack(np.array([2, 6]), 5, 2)


def test_gate_constants_are_shared_and_read_only():
    from bptt.cells.numpy_gates import gate_constants
    c = gate_constants((True, False), 3, 2, np.float64)
    assert c is gate_constants((True, False), 3, 2, np.float64)
    np.testing.assert_array_equal(c.scale, [[0.5] * 3 + [1.0] * 3] * 2)
    np.testing.assert_array_equal(c.shift, [[0.5] * 3 + [0.0] * 3] * 2)
    with pytest.raises(ValueError):
        c.scale[0, 0] = 1.0

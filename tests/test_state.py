"""The recurrent state: one named tuple for every cell, taken in as h, (h, c) or a State, given
back as a State that unpacks like PyTorch's (h_n, c_n)."""
import numpy as np
import pytest

from bptt import GRU, LSTM, RNN, State
from bptt.truncated import detach


def test_a_state_unpacks_as_h_c_and_maps_over_what_it_holds():
    h, c = np.ones((1, 2, 3)), np.zeros((1, 2, 3))
    a, b = State(h, c)
    assert a is h and b is c
    assert State(h).c is None and State(h).arrays() == (h,) and len(State(h, c).arrays()) == 2
    doubled = State(h, c).map(lambda s: 2 * s + 1)
    np.testing.assert_array_equal(doubled.h, 3 * h)
    np.testing.assert_array_equal(doubled.c, np.ones_like(c))
    assert State(h).map(np.ndarray.copy).c is None


def test_of_takes_none_an_array_a_pair_or_a_state():
    h, c = np.ones((1, 2, 3)), np.zeros((1, 2, 3))
    assert State.of(None) is None
    assert State.of(h).h is h and State.of(h).c is None
    assert State.of((h, c)) == (h, c) and isinstance(State.of([h, c]), State)
    s = State(h, c)
    assert State.of(s) is s
    with pytest.raises(ValueError, match=r"h or a pair \(h, c\), got 3 arrays"):
        State.of((h, c, c))


@pytest.mark.parametrize("make", [LSTM, GRU, RNN])
def test_every_layer_gives_back_a_state(make):
    layer = make(3, 4, num_layers=2, bidirectional=True, dtype="float64", rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    out, final, cache = layer.forward(x)
    assert isinstance(final, State) and final.h.shape == (4, 2, 4)
    assert (final.c is not None) == (make is LSTM)
    dx, d_state0, _ = layer.backward(cache, np.ones_like(out), final)
    assert isinstance(d_state0, State) and d_state0.h.shape == (4, 2, 4)
    assert (d_state0.c is not None) == (make is LSTM)


def test_an_lstm_state_without_c_starts_from_c_zero():
    """State(h) into an LSTM is State(h, 0), forward and backward (the models pass a final-state
    gradient that way when the loss reads only h)."""
    rng = np.random.default_rng(2)
    layer = LSTM(3, 4, dtype="float64", rng=rng)
    x, h0 = rng.standard_normal((5, 2, 3)), rng.standard_normal((1, 2, 4))
    out_a, final_a, cache_a = layer.forward(x, State(h0))
    out_b, final_b, cache_b = layer.forward(x, (h0, np.zeros_like(h0)))
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(final_a.c, final_b.c)
    dh = rng.standard_normal((1, 2, 4))
    d_a = layer.backward(cache_a, None, State(dh))
    d_b = layer.backward(cache_b, None, State(dh, np.zeros_like(dh)))
    np.testing.assert_array_equal(d_a[0], d_b[0])
    np.testing.assert_array_equal(d_a[1].c, d_b[1].c)
    assert np.abs(d_a[1].c).max() > 0                        # dL/dc_0 reaches back through c_1 ...


def test_wrong_states_are_named():
    x = np.zeros((2, 1, 3))
    with pytest.raises(ValueError, match=r"state0 for 'lstm' is State\(h, c\) or a pair \(h, c\), got one"):
        LSTM(3, 4).forward(x, np.zeros((1, 1, 4)))
    with pytest.raises(ValueError, match="a gru state has no cell state c"):
        GRU(3, 4).forward(x, State(np.zeros((1, 1, 4)), np.zeros((1, 1, 4))))
    with pytest.raises(ValueError, match=r"state0 c must have shape \(1, 1, 4\)"):
        LSTM(3, 4).forward(x, State(np.zeros((1, 1, 4)), np.zeros((1, 2, 4))))


def test_detach_copies_every_array_of_any_state():
    h, c = np.ones((1, 2, 3)), np.zeros((1, 2, 3))
    for given in (State(h, c), (h, c), h):
        out = detach(given)
        assert isinstance(out, State)
        for ours, theirs in zip(out.arrays(), State.of(given).arrays()):
            np.testing.assert_array_equal(ours, theirs)
            assert not np.shares_memory(ours, theirs)

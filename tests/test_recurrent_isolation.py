"""What the caller holds cannot reach the results: NaN/Inf in padding never reaches an output
or a gradient, and neither editing the returned output nor refilling the input buffer before
``backward`` changes the gradients. On every backend."""
import numpy as np
import pytest

from bptt import Recurrent, RecurrentConfig
from bptt import State
from bptt.backend import numba_installed, use_backend

BACKENDS = ["reference", "numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_installed(), reason="numba is not installed (pip install 'bptt[fast]')"))]
MODES = ["rnn_tanh", "lstm", "gru"]


def _layer(mode, dtype="float64", **kw):
    rng = np.random.default_rng(11)
    layer = Recurrent(RecurrentConfig(mode, 3, 4, dtype=dtype, **kw), rng=rng)
    for p in layer.params.values():
        p[...] = rng.uniform(-0.7, 0.7, p.shape)
    return layer


def _everything(layer, x, lengths, d_out):
    out, final, cache = layer.forward(x, lengths=lengths, training=True)
    out = out.copy()
    dx, d_state0, grads = layer.backward(cache, d_out)
    parts = State.of(final).arrays()
    return {"out": out, "dx": dx, **{f"final{k}": f for k, f in enumerate(parts)}, **grads}


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("lengths", [[5, 2, 3], [5, 3, 2]], ids=["unsorted", "sorted"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_or_inf_in_padding_reaches_no_output_and_no_gradient(backend, mode, lengths, bad):
    rng = np.random.default_rng(12)
    layer = _layer(mode, num_layers=2, bidirectional=True)
    lengths = np.array(lengths)
    x = rng.standard_normal((5, 3, 3))
    d_out = rng.standard_normal((5, 3, 8)) * (np.arange(5)[:, None] < lengths)[..., None]
    dirty = x.copy()
    for b, n in enumerate(lengths):
        dirty[n:, b] = bad
    with use_backend(backend):
        clean = _everything(layer, x, lengths, d_out)
        got = _everything(layer, dirty, lengths, d_out)
    for name, value in got.items():
        assert np.all(np.isfinite(value)), name
        np.testing.assert_array_equal(value, clean[name], err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_output_of_forward_cannot_be_edited_before_backward(backend):
    """The output may be the cached h_t that the weight gradients read: editing it in place
    (``out *= mask``) is refused, as PyTorch refuses to backpropagate through a modified tensor."""
    rng = np.random.default_rng(13)
    layer = _layer("rnn_tanh")
    x = rng.standard_normal((4, 2, 3))
    d_out = rng.standard_normal((4, 2, 4))
    with use_backend(backend):
        want = _everything(layer, x, None, d_out)
        out, _, cache = layer.forward(x, training=True)
        with pytest.raises(ValueError, match="read-only"):
            out *= 0.5
        _, _, grads = layer.backward(cache, d_out)
        for name, g in grads.items():
            np.testing.assert_array_equal(g, want[name], err_msg=name)
        out_inference, _ = layer(x)                     # no cache kept: the caller owns it
        out_inference *= 0.5


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_refilling_the_input_buffer_before_backward_changes_no_gradient(backend, mode, batch_first):
    rng = np.random.default_rng(14)
    layer = _layer(mode, batch_first=batch_first)
    x = rng.standard_normal((2, 4, 3) if batch_first else (4, 2, 3))   # float64: no dtype copy
    d_out = rng.standard_normal((2, 4, 4) if batch_first else (4, 2, 4))
    with use_backend(backend):
        want = _everything(layer, x, None, d_out)
        out, _, cache = layer.forward(x, training=True)
        x[...] = rng.standard_normal(x.shape)           # the caller reuses its buffer
        dx, _, grads = layer.backward(cache, d_out)
    for name, g in grads.items():
        np.testing.assert_array_equal(g, want[name], err_msg=name)
    np.testing.assert_array_equal(dx, want["dx"])

"""Embedding and Dense: finite differences in float64, PyTorch parity, PyTorch-like init."""
import numpy as np
import pytest
import torch

from bptt.gradcheck import check_grads, rel_error
from bptt.layers import Dense, Embedding, one_hot, sum_rows_by_id
from bptt.sparse import SparseRows

T, B, IN, OUT, V, E = 5, 3, 4, 6, 11, 5


def _torch_linear(layer: Dense) -> torch.nn.Linear:
    W = torch.from_numpy(layer.params["weight"].copy())
    lin = torch.nn.Linear(IN, OUT, bias="bias" in layer.params, dtype=W.dtype)
    with torch.no_grad():
        lin.weight.copy_(W)
        if "bias" in layer.params:
            lin.bias.copy_(torch.from_numpy(layer.params["bias"]))
    return lin


# ---------------------------------------------------------------- Dense

@pytest.mark.parametrize("bias", [True, False])
def test_dense_gradients_match_finite_differences_with_leading_dims(bias):
    rng = np.random.default_rng(1)
    layer = Dense(IN, OUT, bias=bias, dtype=np.float64, rng=rng)
    x = rng.standard_normal((T, B, IN))                     # (T, B, in)
    R = rng.standard_normal((T, B, OUT))                    # loss = sum(y * R)

    def f():
        return float(np.sum(layer.forward(x)[0] * R))

    y, cache = layer.forward(x)
    dx, grads = layer.backward(R, cache)
    errors = check_grads(f, {**layer.params, "x": x}, {**grads, "x": dx})
    assert set(errors) == ({"weight", "bias", "x"} if bias else {"weight", "x"})
    for name, err in errors.items():
        assert err < 1e-6, (name, err)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("bias", [True, False])
def test_dense_matches_torch_linear(dtype, tol, bias):
    rng = np.random.default_rng(2)
    layer = Dense(IN, OUT, bias=bias, dtype=dtype, rng=rng)
    x = rng.standard_normal((T, B, IN)).astype(dtype)
    dout = rng.standard_normal((T, B, OUT)).astype(dtype)
    y, cache = layer.forward(x)
    dx, grads = layer.backward(dout, cache)

    lin = _torch_linear(layer)
    xt = torch.from_numpy(x).requires_grad_()
    yt = lin(xt)
    yt.backward(torch.from_numpy(dout))
    assert y.dtype == dx.dtype == grads["weight"].dtype == dtype
    assert rel_error(y, yt.detach().numpy()) < tol
    assert rel_error(dx, xt.grad.numpy()) < tol
    assert rel_error(grads["weight"], lin.weight.grad.numpy()) < tol
    if bias:
        assert rel_error(grads["bias"], lin.bias.grad.numpy()) < tol


def test_dense_init_is_uniform_within_pytorch_bound():
    layer = Dense(400, 300, rng=np.random.default_rng(3))
    bound = 1 / np.sqrt(400)
    for name in ("weight", "bias"):
        p = layer.params[name]
        assert p.dtype == np.float32
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.95 * bound, name
    w = layer.params["weight"]
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound   # std of U(-a, a) is a / sqrt(3)


def test_dense_rejects_wrong_input_width():
    with pytest.raises(ValueError, match=r"Expected 4, got x of shape \(2, 3\)"):
        Dense(IN, OUT).forward(np.zeros((2, 3), np.float32))


# ---------------------------------------------------------------- Embedding

def _torch_embedding_grad(weight, ids, dout, padding_idx):
    emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(weight.copy()), freeze=False,
                                             padding_idx=padding_idx)
    emb(torch.from_numpy(ids)).backward(torch.from_numpy(dout))
    return emb.weight.grad.numpy()


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("padding_idx", [None, 0, 7])
def test_embedding_gradient_equals_torch_dense_gradient(dtype, tol, padding_idx):
    rng = np.random.default_rng(4)
    emb = Embedding(V, E, padding_idx=padding_idx, dtype=dtype, rng=rng)
    ids = rng.integers(0, V, size=(T, B))
    ids[0, :] = 7                                           # repeated ids, padding among them
    ids[1, 0] = ids[2, 1] = ids[3, 2] = 0
    dout = rng.standard_normal((T, B, E)).astype(dtype)
    out, cache = emb.forward(ids)
    dx, grads = emb.backward(dout, cache)
    g = grads["weight"]

    assert dx is None and isinstance(g, SparseRows) and g.shape == (V, E) and g.dtype == dtype
    assert np.all(np.diff(g.indices) > 0)                   # unique, sorted
    if padding_idx is not None:
        assert padding_idx not in g.indices
    assert np.array_equal(out, emb.params["weight"][ids]) and out.dtype == dtype
    expected = _torch_embedding_grad(emb.params["weight"], ids, dout, padding_idx)
    assert rel_error(g.to_dense(), expected) < tol


def test_embedding_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    emb = Embedding(V, E, dtype=np.float64, rng=rng)
    ids = rng.integers(0, V, size=(T, B))
    ids[0, :] = 3                                           # a repeated id
    R = rng.standard_normal((T, B, E))                      # loss = sum(out * R)

    def f():
        return float(np.sum(emb.forward(ids)[0] * R))

    _, grads = emb.backward(R, emb.forward(ids)[1])
    assert check_grads(f, emb.params, grads)["weight"] < 1e-6


def test_embedding_init_is_standard_normal_with_zero_padding_row():
    emb = Embedding(2000, 64, padding_idx=-1, rng=np.random.default_rng(6))
    w = emb.params["weight"]
    assert w.dtype == np.float32 and emb.padding_idx == 1999
    assert np.all(w[1999] == 0)
    assert abs(w[:-1].mean()) < 0.01 and abs(w[:-1].std() - 1) < 0.01


def test_frozen_pretrained_embedding_keeps_matrix_and_returns_no_gradient():
    matrix = np.random.default_rng(7).standard_normal((V, E))        # float64
    emb = Embedding.from_pretrained(matrix, freeze=True, padding_idx=1)
    assert emb.params["weight"].dtype == np.float64
    assert np.array_equal(emb.params["weight"], matrix)
    assert not np.shares_memory(emb.params["weight"], matrix)
    assert np.array_equal(emb.params["weight"][1], matrix[1])        # padding row not zeroed
    ids = np.array([[1, 2], [3, 1]])
    out, cache = emb.forward(ids)
    assert np.array_equal(out, matrix[ids])
    assert emb.backward(np.ones((2, 2, E)), cache) == (None, {})


def test_trainable_pretrained_embedding_gets_gradient():
    matrix = np.random.default_rng(8).standard_normal((V, E)).astype(np.float32)
    emb = Embedding.from_pretrained(matrix)
    ids = np.array([4, 4, 9])
    dout = np.arange(3 * E, dtype=np.float32).reshape(3, E) + 1
    _, grads = emb.backward(dout, emb.forward(ids)[1])
    g = grads["weight"]
    assert g.indices.tolist() == [4, 9] and g.dtype == np.float32
    assert np.array_equal(g.values, np.stack([dout[0] + dout[1], dout[2]]))


def test_one_hot_times_u_equals_embedding_lookup():
    rng = np.random.default_rng(9)
    emb = Embedding(V, E, dtype=np.float64, rng=rng)
    ids = rng.integers(0, V, size=(T, B))
    x = one_hot(ids, V, np.float64)                                   # (T, B, V)
    assert x.dtype == np.float64 and np.array_equal(x.sum(-1), np.ones((T, B)))
    assert np.array_equal(x.argmax(-1), ids)
    np.testing.assert_array_equal(x @ emb.params["weight"], emb.forward(ids)[0])


def test_out_of_range_ids_raise_with_the_bad_value():
    emb = Embedding(V, E)
    with pytest.raises(ValueError, match=r"ids\[1, 0\] = 11 is outside the valid range \[0, 10\]"):
        emb.forward(np.array([[0, 1], [11, 2]]))
    with pytest.raises(ValueError, match=r"= -1 is outside"):
        one_hot(np.array([-1]), V)
    with pytest.raises(TypeError, match="integers"):
        emb.forward(np.array([0.0, 1.0]))


@pytest.mark.parametrize("run_lengths", [[1], [2], [3, 1, 5], [17, 1, 1, 8, 2, 33], []])
def test_sum_rows_by_id_equals_add_at(run_lengths):
    rng = np.random.default_rng(10)
    ids = np.repeat(rng.permutation(100)[:len(run_lengths)], run_lengths).astype(np.int64)
    ids = rng.permutation(ids)
    rows = rng.standard_normal((ids.size, 3))
    uniq, sums = sum_rows_by_id(ids, rows)
    dense = np.zeros((100, 3))
    np.add.at(dense, ids, rows)
    assert np.array_equal(uniq, np.unique(ids))
    np.testing.assert_allclose(sums, dense[uniq], rtol=1e-13, atol=1e-13)

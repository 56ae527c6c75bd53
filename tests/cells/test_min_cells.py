"""minGRU and minLSTM (Feng et al. 2024): bptt.MinGRU / bptt.MinLSTM against PyTorch autograd
of the same equations written as a plain loop here (identical weights, float64), against finite
differences on every path, and the layer options (bias=False, batch_first, unbatched)."""
import numpy as np
import pytest
import torch

import bptt
from bptt.backend import numba_installed, use_backend
from bptt.gradcheck import check_layer, rel_error

PATHS = ["reference", "numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_installed(), reason="numba is not installed"))]
LAYERS = {"mingru": bptt.MinGRU, "minlstm": bptt.MinLSTM}


def torch_step(mode, x_t, h_prev, U, b):
    """One step of the issue's equations, in torch: the oracle."""
    a = x_t @ U.T + b
    if mode == "mingru":
        a_z, h_tilde = a.chunk(2, dim=1)
        z = torch.sigmoid(a_z)
        return (1 - z) * h_prev + z * h_tilde
    a_f, a_i, h_tilde = a.chunk(3, dim=1)
    f, i = torch.sigmoid(a_f), torch.sigmoid(a_i)
    return f / (f + i) * h_prev + i / (f + i) * h_tilde


def torch_layer(mode, params, x, h0, lengths, num_layers, D):
    """x (T, B, E), h0 (L*D, B, H), lengths (B,): outputs (T, B, D*H) (zero after each end) and
    h_n (L*D, B, H), each direction reading its sequence from its own end (a plain loop)."""
    T, B, _ = x.shape
    inp, finals = x, []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            s = f"_l{layer}" + ("_reverse" if d else "")
            U, b = params[f"weight_ih{s}"], params.get(f"bias_ih{s}", 0)
            out = [torch.zeros_like(h0[0])] * T
            h_n = []
            for row in range(B):
                h = h0[layer * D + d, row:row + 1]
                n = int(lengths[row])
                for t in (reversed(range(n)) if d else range(n)):
                    h = torch_step(mode, inp[t, row:row + 1], h, U, b)
                    out[t] = torch.cat([out[t][:row], h, out[t][row + 1:]])
                h_n.append(h)
            outs.append(torch.stack(out))
            finals.append(torch.cat(h_n))
        inp = torch.cat(outs, dim=2)
    return inp, torch.stack(finals)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("mode", ["mingru", "minlstm"])
@pytest.mark.parametrize("path", PATHS)
def test_min_cells_match_pytorch_autograd_of_the_same_equations(path, mode, bias):
    rng = np.random.default_rng(11)
    L, D, T, B, E, H = 2, 2, 6, 3, 4, 5
    layer = LAYERS[mode](E, H, num_layers=L, bidirectional=True, dtype="float64", bias=bias,
                         rng=np.random.default_rng(2))
    assert not any(n.startswith(("weight_hh", "bias_hh")) for n in layer.params)
    assert layer.params["weight_ih_l1"].shape == (layer.cell.gates * H, D * H)
    for p in layer.params.values():
        p[...] = rng.uniform(-0.9, 0.9, p.shape)
    x, h0 = rng.standard_normal((T, B, E)), rng.standard_normal((L * D, B, H))
    lengths = np.array([4, 6, 2])
    w_out, w_n = rng.standard_normal((T, B, D * H)), rng.standard_normal((L * D, B, H))
    w_out *= (np.arange(T)[:, None] < lengths[None, :])[..., None]
    with use_backend(path):
        out, final, cache = layer.forward(x, h0, lengths)
        dx, d_h0, grads = layer.backward(cache, w_out, w_n)

    tp = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    tx, th0 = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    t_out, t_n = torch_layer(mode, tp, tx, th0, lengths, L, D)
    (torch.sum(t_out * torch.tensor(w_out)) + torch.sum(t_n * torch.tensor(w_n))).backward()
    assert rel_error(out, t_out.detach().numpy()) < 1e-12
    assert rel_error(final.h, t_n.detach().numpy()) < 1e-12
    assert rel_error(dx, tx.grad.numpy()) < 1e-12
    assert rel_error(d_h0.h, th0.grad.numpy()) < 1e-12
    assert set(grads) == set(tp)
    for name in grads:
        assert rel_error(grads[name], tp[name].grad.numpy()) < 1e-12, name
        assert np.abs(grads[name]).max() > 0, name


@pytest.mark.parametrize("options", [dict(num_layers=2, bidirectional=True),
                                     dict(batch_first=True, bias=False), dict(num_layers=3, dropout=0.3)])
@pytest.mark.parametrize("mode", ["mingru", "minlstm"])
@pytest.mark.parametrize("path", PATHS)
def test_min_cells_pass_finite_differences_on_every_path(path, mode, options):
    layer = LAYERS[mode](3, 4, dtype="float64", rng=np.random.default_rng(5), **options)
    for p in layer.params.values():
        p[...] = np.random.default_rng(p.size).uniform(-0.9, 0.9, p.shape)
    with use_backend(path):
        errors = check_layer(layer, T=6, batch=3, lengths=np.array([3, 6, 5]), training=True,
                             max_elements=16)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("mode", ["mingru", "minlstm"])
def test_min_cells_take_one_unbatched_sequence_like_a_batch_of_one(mode):
    layer = LAYERS[mode](3, 4, num_layers=2, bidirectional=True, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    out, final = layer(x)
    out_b, final_b = layer(x[:, None])
    np.testing.assert_array_equal(out, out_b[:, 0])
    np.testing.assert_array_equal(final.h, final_b.h[:, 0])
    assert out.shape == (5, 8) and final.h.shape == (4, 4)

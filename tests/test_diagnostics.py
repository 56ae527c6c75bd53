"""Gradients through time: dL/dh_t (and dL/dc_t) against PyTorch step-by-step loops with
retain_grad, the Jacobian products ds_n/ds_t against finite differences of our own forward and
torch.autograd.functional.jacobian, spectra and per-gate norms against NumPy, the training
recorder, and the plots. float64, random non-zero weights everywhere."""
import json

import numpy as np
import pytest
import torch

from bptt import Recurrent, RecurrentConfig
from bptt.diagnostics import (
    by_distance,
    decay_rate,
    diagnose,
    format_diagnosis,
    grad_norms,
    jacobian_norms,
    jacobian_product,
    plot_distance,
    plot_heatmap,
    plot_losses,
    read_records,
    record_every,
    state_gradients,
    weight_spectrum,
)
from bptt.models import Classifier, ClassifierBatch, ClassifierConfig
from bptt.models.regressor import Regressor, RegressorBatch, RegressorConfig

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def _layer(mode, rng, E=3, H=4, **kw):
    layer = Recurrent(RecurrentConfig(mode, E, H, dtype="float64", **kw), rng=rng)
    for p in layer.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    return layer


# ---- a PyTorch reference: the same layer as a loop of nn.*Cell, every state a graph node --------

def _torch_cells(layer):
    c = layer.config
    cells = {}
    for l in range(c.num_layers):
        In = c.input_size if l == 0 else c.directions * c.hidden_size
        for d in range(c.directions):
            sfx = f"_l{l}" + ("_reverse" if d else "")
            if c.mode == "lstm":
                cell = torch.nn.LSTMCell(In, c.hidden_size)
            elif c.mode == "gru":
                cell = torch.nn.GRUCell(In, c.hidden_size)
            else:
                cell = torch.nn.RNNCell(In, c.hidden_size, nonlinearity=c.mode[4:])
            cell = cell.double()
            cell.load_state_dict({k: torch.from_numpy(layer.params[f"{k}{sfx}"].copy())
                                  for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
            cells[f"l{l}" + ("_reverse" if d else "")] = cell
    return cells


def torch_loop(layer, x, lengths):
    """x (T, B, E) torch tensor. Returns (top output (T, B, D*H) zero-padded, final states
    [(h, c) or (h,) per layer/direction, in PyTorch's order], {key: (h nodes, c nodes) per t})."""
    c = layer.config
    T, B, _ = x.shape
    H, lstm = c.hidden_size, c.mode == "lstm"
    cells = _torch_cells(layer)
    lengths = torch.as_tensor(lengths)
    nodes, finals, inp = {}, [], x
    for l in range(c.num_layers):
        outs = []
        for d in range(c.directions):
            key = f"l{l}" + ("_reverse" if d else "")
            h = torch.zeros(B, H, dtype=torch.float64)
            cs = torch.zeros(B, H, dtype=torch.float64)
            hs, css, out = [None] * T, [None] * T, [None] * T
            for t in (reversed(range(T)) if d else range(T)):
                real = (t < lengths)[:, None]
                if lstm:
                    h_new, c_new = cells[key](inp[t], (h, cs))
                    cs = torch.where(real, c_new, cs)
                    cs.retain_grad()
                    css[t] = cs
                else:
                    h_new = cells[key](inp[t], h)
                h = torch.where(real, h_new, h)
                h.retain_grad()
                hs[t] = h
                out[t] = torch.where(real, h, torch.zeros_like(h))
            nodes[key] = (hs, css)
            finals.append((h, cs) if lstm else (h,))
            outs.append(torch.stack(out))
        inp = torch.cat(outs, dim=2)
    return inp, finals, nodes


def _real(lengths, T):
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]               # (T, B)


def _assert_state_grads_match(ours, nodes, lengths, T):
    real = _real(lengths, T)
    for key, (hs, cs) in nodes.items():
        ref_h = np.stack([h.grad.numpy() for h in hs])                          # (T, B, H)
        np.testing.assert_allclose(ours[key].h[real], ref_h[real], rtol=1e-10, atol=1e-12, err_msg=key)
        assert np.all(ours[key].h[~real] == 0)
        if cs[0] is not None:
            ref_c = np.stack([np.zeros(c.shape) if c.grad is None else c.grad.numpy() for c in cs])
            np.testing.assert_allclose(ours[key].c[real], ref_c[real], rtol=1e-10, atol=1e-12, err_msg=key)
        assert np.abs(ref_h[real]).min() > 0                                    # a real check


# ---- dL/dh_t ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_state_gradients_match_torch_retain_grad_stacked_bidirectional_padded(mode):
    rng = np.random.default_rng(3)
    layer = _layer(mode, rng, num_layers=2, bidirectional=True)
    T, B = 6, 3
    lengths = np.array([4, 6, 2])
    x = rng.standard_normal((T, B, 3))
    out, final, cache = layer.forward(x, lengths=lengths)
    w_out = rng.standard_normal(out.shape) * _real(lengths, T)[..., None]
    w_final = [rng.standard_normal((4, B, 4)) for _ in range(2 if mode == "lstm" else 1)]
    ours = state_gradients(layer, cache, w_out, tuple(w_final) if mode == "lstm" else w_final[0])

    top, finals, nodes = torch_loop(layer, torch.from_numpy(x), lengths)
    loss = (top * torch.from_numpy(w_out)).sum()
    for k, fin in enumerate(finals):
        for s, w in zip(fin, w_final):
            loss = loss + (s * torch.from_numpy(w[k])).sum()
    loss.backward()
    np.testing.assert_allclose(top.detach().numpy(), out, rtol=1e-12, atol=1e-12)
    _assert_state_grads_match(ours, nodes, lengths, T)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_diagnose_regressor_state_gradients_match_torch(mode):
    rng = np.random.default_rng(4)
    model = Regressor(RegressorConfig(2, 4, 2, mode, dtype="float64"), rng)
    for p in model.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    T, B = 7, 3
    x, y = rng.standard_normal((T, B, 2)), rng.standard_normal((B, 2))
    d = diagnose(model, RegressorBatch(x, y))

    top, finals, nodes = torch_loop(model.rnn, torch.from_numpy(x), [T] * B)
    pred = finals[0][0] @ torch.from_numpy(model.params["fc.weight"]).T + torch.from_numpy(model.params["fc.bias"])
    loss = ((pred - torch.from_numpy(y)) ** 2).mean()
    loss.backward()
    assert d.loss == pytest.approx(loss.item(), rel=1e-12)
    _assert_state_grads_match(d.state_grads, nodes, [T] * B, T)
    grads = model.loss_and_grads(RegressorBatch(x, y)).grads
    assert d.grad_norms["rnn.weight_hh_l0"] == pytest.approx(np.linalg.norm(grads["rnn.weight_hh_l0"]), rel=1e-12)


def test_diagnose_classifier_mean_pooling_matches_torch():
    rng = np.random.default_rng(5)
    model = Classifier(ClassifierConfig(10, 3, 4, 3, "gru", 2, True, pooling="mean", dtype="float64"), rng)
    for p in model.params.values():
        p[...] = rng.uniform(-0.8, 0.8, p.shape)
    T, lengths = 5, np.array([5, 2, 4])
    ids = rng.integers(1, 10, size=(T, 3)) * _real(lengths, T)
    labels = np.array([0, 2, 1])
    d = diagnose(model, ClassifierBatch(ids, lengths, labels), training=False)

    emb = torch.from_numpy(model.params["embedding.weight"])[torch.from_numpy(ids)]
    top, _, nodes = torch_loop(model.rnn, emb, lengths)
    s = top.sum(0) / torch.as_tensor(lengths)[:, None].double()
    logits = s @ torch.from_numpy(model.params["fc.weight"]).T + torch.from_numpy(model.params["fc.bias"])
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)).backward()
    _assert_state_grads_match(d.state_grads, nodes, lengths, T)
    assert "rnn.weight_hh_l1_reverse[z]" in d.grad_norms and "embedding.weight" in d.grad_norms


# ---- ds_n/ds_t ----------------------------------------------------------------------------------

def _flat_state(final, row):
    return np.concatenate([p[0, row] for p in final.arrays()])


@pytest.mark.parametrize("mode", MODES + ["rnn_sigmoid"])
def test_jacobian_product_matches_finite_differences_of_the_forward(mode):
    """ds_n/ds_t by running our own forward from the state at t over x_{t+1..n}."""
    rng = np.random.default_rng(6)
    layer = _layer(mode, rng)
    T, B, H, row = 6, 2, 4, 1
    x = rng.standard_normal((T, B, 3))
    _, _, cache = layer.forward(x)
    (hs, *cs), _ = layer.cell.fast.forward(*_replay(layer, x))
    S = 2 * H if mode == "lstm" else H
    for t in (0, 2, 4):
        s_t = [hs[t + 1].copy()] + [c[t + 1].copy() for c in cs]               # state after x_t
        J = np.empty((S, S))
        for j in range(S):
            cols = []
            for sign in (1, -1):
                s = [a.copy() for a in s_t]
                s[j // H][row, j % H] += sign * 1e-6
                state0 = tuple(a[None] for a in s) if mode == "lstm" else s[0][None]
                cols.append(_flat_state(layer.forward(x[t + 1:], state0)[1], row))
            J[:, j] = (cols[0] - cols[1]) / 2e-6
        np.testing.assert_allclose(jacobian_product(layer, cache, t, row=row), J, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(jacobian_product(layer, cache, T - 1, row=row), np.eye(S))


def _replay(layer, x):
    """The arguments of the cell's forward for a single-layer, unpadded forward direction."""
    U, W, b_ih, b_hh = (layer.params[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
    T, B, _ = x.shape
    H = layer.config.hidden_size
    xp = (x.reshape(T * B, -1) @ U.T + b_ih).reshape(T, B, -1)
    state0 = tuple(np.zeros((B, H)) for _ in range(layer.cell.num_states))
    return xp, state0, W, b_hh, np.full(T, B)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_reverse_direction_jacobian_with_padding_matches_torch_autograd(mode):
    rng = np.random.default_rng(8)
    layer = _layer(mode, rng, bidirectional=True)
    T, lengths, row, t = 6, np.array([6, 4]), 1, 2
    x = rng.standard_normal((T, 2, 3))
    _, _, cache = layer.forward(x, lengths=lengths)
    ours = jacobian_product(layer, cache, t, key="l0_reverse", row=row)

    cell = _torch_cells(layer)["l0_reverse"]
    xs = torch.from_numpy(x[:, row])

    def from_t(s):              # the reverse direction reads x_{t-1}, ..., x_0 after the state at t
        h, c = (s[:4], s[4:]) if mode == "lstm" else (s, None)
        for k in reversed(range(t)):
            if mode == "lstm":
                h, c = cell(xs[k][None], (h[None], c[None]))
                h, c = h[0], c[0]
            else:
                h = cell(xs[k][None], h[None])[0]
        return torch.cat([h, c]) if mode == "lstm" else h

    # the state the reverse direction holds at t: run it from the row's last real step down to t
    h = torch.zeros(4, dtype=torch.float64)
    c = torch.zeros(4, dtype=torch.float64)
    for k in reversed(range(t, lengths[row])):
        if mode == "lstm":
            h, c = (a[0] for a in cell(xs[k][None], (h[None], c[None])))
        else:
            h = cell(xs[k][None], h[None])[0]
    s_t = torch.cat([h, c]) if mode == "lstm" else h
    ref = torch.autograd.functional.jacobian(from_t, s_t.detach()).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    assert np.abs(ref).max() > 1e-3


def test_jacobian_norms_are_the_norms_of_the_products_and_nan_when_padded():
    rng = np.random.default_rng(9)
    layer = _layer("lstm", rng, num_layers=2, bidirectional=True)
    T, lengths = 5, np.array([3, 5, 4])
    x = rng.standard_normal((T, 3, 3))
    _, _, cache = layer.forward(x, lengths=lengths)
    norms = jacobian_norms(layer, cache)
    fro = jacobian_norms(layer, cache, rows=[2], ord="fro")
    for key in ("l0", "l1", "l1_reverse"):
        for row in range(3):
            for t in range(lengths[row]):
                P = jacobian_product(layer, cache, t, key=key, row=row)
                assert norms[key].state[t, row] == pytest.approx(np.linalg.norm(P, 2), rel=1e-10)
                assert norms[key].h[t, row] == pytest.approx(np.linalg.norm(P[:4, :4], 2), rel=1e-10)
            assert np.all(np.isnan(norms[key].state[lengths[row]:, row]))
        last = {"l0": lengths - 1, "l1": lengths - 1, "l1_reverse": np.zeros(3, int)}[key]
        np.testing.assert_allclose(norms[key].state[last, np.arange(3)], 1.0)     # ds_n/ds_n = I
        P = jacobian_product(layer, cache, 1, key=key, row=2)
        assert fro[key].state[1, 2] == pytest.approx(np.linalg.norm(P), rel=1e-10)
        assert np.all(np.isnan(fro[key].state[:, :2]))


def test_products_far_below_float_range_of_a_single_step_are_still_exact():
    """A tanh RNN with a tiny W: the product shrinks ~1e-3 per step; renormalising each step
    keeps it equal to the product of the per-step factors."""
    rng = np.random.default_rng(10)
    layer = _layer("rnn_tanh", rng, H=1)
    layer.params["weight_hh_l0"][...] = 1e-3
    T = 60
    x = rng.standard_normal((T, 1, 3))
    out, _, cache = layer.forward(x)
    h = out[:, 0, 0]                                                 # (T,) h_1 .. h_T
    factors = 1e-3 * (1 - h ** 2)                                    # dh_t/dh_{t-1}, H = 1
    expect = np.array([np.prod(factors[t + 1:]) for t in range(T)])
    got = jacobian_norms(layer, cache)["l0"].state[:, 0]
    np.testing.assert_allclose(got, expect, rtol=1e-9)
    assert got[0] < 1e-170


# ---- parameters ---------------------------------------------------------------------------------

def test_weight_spectrum_of_known_matrices():
    rng = np.random.default_rng(11)
    rnn = _layer("rnn_tanh", rng, H=3)
    Q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    rnn.params["weight_hh_l0"][...] = Q @ np.diag([2.0, 0.5, 0.25]) @ Q.T      # symmetric
    s = weight_spectrum(rnn)["weight_hh_l0"]["W"]
    assert s["spectral_radius"] == pytest.approx(2.0) and s["sigma_max"] == pytest.approx(2.0)
    rnn.params["weight_hh_l0"][...] = [[0, 4, 0], [0, 0, 0], [0, 0, 0.5]]        # nilpotent part
    s = weight_spectrum(rnn)["weight_hh_l0"]["W"]
    assert s["spectral_radius"] == pytest.approx(0.5) and s["sigma_max"] == pytest.approx(4.0)

    lstm = _layer("lstm", rng, bidirectional=True)
    spec = weight_spectrum(lstm)
    assert set(spec) == {"weight_hh_l0", "weight_hh_l0_reverse"}
    W = lstm.params["weight_hh_l0_reverse"]
    for k, g in enumerate("ifgo"):
        block = W[4 * k:4 * (k + 1)]
        assert spec["weight_hh_l0_reverse"][g]["spectral_radius"] == pytest.approx(np.abs(np.linalg.eigvals(block)).max())
        assert spec["weight_hh_l0_reverse"][g]["sigma_max"] == pytest.approx(np.linalg.svd(block)[1][0])
    assert spec["weight_hh_l0_reverse"]["all"]["sigma_max"] == pytest.approx(np.linalg.svd(W)[1][0])


def test_grad_norms_per_gate_block_split_the_rows():
    rng = np.random.default_rng(12)
    H = 3
    grads = {"rnn.weight_hh_l0": rng.standard_normal((3 * H, H)), "rnn.bias_ih_l1_reverse": rng.standard_normal(3 * H),
             "fc.weight": rng.standard_normal((2, H))}
    norms = grad_norms(grads, "gru")
    for name, g in grads.items():
        assert norms[name] == pytest.approx(np.linalg.norm(g))
    for name in ("rnn.weight_hh_l0", "rnn.bias_ih_l1_reverse"):
        for k, gate in enumerate("rzn"):
            assert norms[f"{name}[{gate}]"] == pytest.approx(np.linalg.norm(grads[name][k * H:(k + 1) * H]))
    assert "fc.weight[r]" not in norms


# ---- summaries ----------------------------------------------------------------------------------

def test_by_distance_aligns_rows_at_their_last_step_and_decay_rate_fits_the_factor():
    values = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [0.0, 40.0]])     # (T=4, B=2)
    lengths = np.array([3, 4])
    np.testing.assert_allclose(by_distance(values, lengths), [(3 + 40) / 2, (2 + 30) / 2, (1 + 20) / 2, 10])
    np.testing.assert_allclose(by_distance(values, lengths, reverse=True), [5.5, 11, 16.5, 40])
    assert decay_rate(3 * 0.5 ** np.arange(20)) == pytest.approx(0.5)
    assert decay_rate(np.array([2.0, 2.2, 0.0, np.nan, 2.0 * 1.1 ** 4])) == pytest.approx(1.1)


def test_summary_decay_rate_of_a_linear_rnn_is_the_eigenvalue():
    """h_t = W h_{t-1} with W = 0.7 I (relu on positive states is the identity): dL/dh_t = 0.7^k."""
    layer = _layer("rnn_relu", np.random.default_rng(13), H=2)
    layer.params["weight_hh_l0"][...] = 0.7 * np.eye(2)
    layer.params["weight_ih_l0"][...] = 1.0
    layer.params["bias_ih_l0"][...] = 1.0
    x = np.abs(np.random.default_rng(0).standard_normal((12, 2, 3)))
    _, _, cache = layer.forward(x)
    d_final = np.ones((1, 2, 2))
    from bptt.diagnostics import diagnose_layer
    d = diagnose_layer(layer, cache, None, d_final)
    s = d.summary()
    np.testing.assert_allclose(s["curves"]["l0"]["dh"], np.sqrt(2) * 0.7 ** np.arange(12), rtol=1e-12)
    assert s["decay_rate"]["l0"]["dh"] == pytest.approx(0.7)
    assert s["decay_rate"]["l0"]["jacobian"] == pytest.approx(0.7)
    text = format_diagnosis(d)
    assert "rate/step 0.7000" in text and "weight_hh_l0[W]" in text


# ---- during training ----------------------------------------------------------------------------

def test_record_every_writes_gradient_records_next_to_the_trainer_metrics(tmp_path):
    from bptt.data.synthetic import adding_problem
    from bptt.train import TrainConfig, Trainer

    model = Regressor(RegressorConfig(2, 5, mode="gru", dtype="float64"), np.random.default_rng(1))
    data = [RegressorBatch(*adding_problem(8, 6, np.random.default_rng(i), "float64")) for i in range(4)]
    recorder = record_every(3, tmp_path / "metrics.jsonl")
    seen = {}

    def step_fn(batch):
        step = trainer.state.global_step
        rec = recorder(step, model, batch)
        result = model.loss_and_grads(batch)
        if rec is not None:
            seen[step] = (rec, np.linalg.norm(result.grads["rnn.weight_hh_l0"]), result.loss)
        return result

    trainer = Trainer(model, TrainConfig(epochs=2, lr=0.01, patience=None, metric="neg_mse"),
                      lambda rng: data, step_fn, lambda: {"neg_mse": -1.0},
                      lambda d: None, tmp_path, progress=False)
    trainer.fit()
    records = read_records(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [0, 3, 6]
    for r in records:
        rec, norm, loss = seen[r["step"]]
        assert r == json.loads(json.dumps(rec))
        assert r["grad_norms"]["rnn.weight_hh_l0"] == pytest.approx(norm, rel=1e-12)
        assert r["loss"] == pytest.approx(loss, rel=1e-12)
        assert len(r["curves"]["l0"]["dh"]) == 6
    epochs = [json.loads(l) for l in open(tmp_path / "metrics.jsonl") if '"epoch"' in l]
    assert [e["epoch"] for e in epochs] == [1, 2]


# ---- plots --------------------------------------------------------------------------------------

def test_plots_write_png_files(tmp_path):
    import matplotlib  # noqa: F401  (the plot extra is in the test extra)
    curves = {"tanh": 0.6 ** np.arange(30), "lstm": 0.95 ** np.arange(30)}
    records = [{"step": s, "curves": {"l0": {"dh": list(0.9 ** np.arange(10) / (s + 1))}}} for s in range(5)]
    runs = {"no clip": {"loss": [1.0, 2.0, float("nan")], "diverged_at": 3},
            "clip": {"loss": [1.0, 0.5, 0.2], "clipped": [1, 2]}}
    for path in (plot_distance(curves, tmp_path / "d.png"), plot_heatmap(records, tmp_path / "h.png"),
                 plot_losses(runs, tmp_path / "l.png", baseline=0.167)):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_plotting_without_matplotlib_says_how_to_install_it(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"bptt\[plot\]"):
        plot_distance({"x": np.ones(3)}, tmp_path / "x.png")


def test_float32_model_with_dropout_gives_the_float64_gradients_to_float32_precision():
    """The loop runs in float64 on a float32 cache; the gradient into a lower layer comes from the
    layer's own float32 backward (dropout masks from the forward cache)."""
    x = np.random.default_rng(1).random((9, 4, 2))
    y = np.random.default_rng(2).random((4, 1))
    out = {}
    for dtype in ("float32", "float64"):
        model = Regressor(RegressorConfig(2, 8, mode="lstm", num_layers=2, bidirectional=True,
                                          dropout=0.3, dtype=dtype), np.random.default_rng(0), dropout_seed=5)
        out[dtype] = diagnose(model, RegressorBatch(x.astype(dtype), y.astype(dtype)), jacobian=False)
    for key, sg in out["float64"].state_grads.items():
        assert sg.h.dtype == np.float64
        np.testing.assert_allclose(out["float32"].state_grads[key].h, sg.h, rtol=0, atol=1e-6 * np.abs(sg.h).max())

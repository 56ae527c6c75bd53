"""The adaptive softmax: a distribution over every word, finite differences in float64 for both
the full path (every word's log-probability) and the training path (the targets' clusters only),
the training path against the full one, and PyTorch's nn.AdaptiveLogSoftmaxWithLoss with the
same weights."""
import numpy as np
import pytest
import torch

from bptt.adaptive_softmax import AdaptiveSoftmax
from bptt.gradcheck import check_grads, rel_error

R, H, N, CUTOFFS = 9, 8, 23, (5, 11, 17)


def _problem(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    layer = AdaptiveSoftmax(H, N, CUTOFFS, div_value=2.0, dtype=dtype, rng=rng)
    h = rng.standard_normal((R, H)).astype(dtype)
    targets = np.array([0, 4, 5, 10, 11, 16, 17, 22, 3])       # the short list and every cluster's ends
    mask = np.ones(R, dtype=bool)
    mask[[2, 7]] = False
    return layer, h, targets, mask


def test_every_row_is_a_distribution_over_the_vocabulary():
    layer, h, _, _ = _problem()
    logp, _ = layer.forward(h.reshape(3, 3, H))
    assert logp.shape == (3, 3, N)
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, atol=1e-12)
    assert [layer.params[f"tail.{k}.0.weight"].shape for k in range(3)] == [(4, H), (2, H), (1, H)]


def test_training_loss_gradients_match_finite_differences():
    layer, h, targets, mask = _problem()
    loss, dh, grads = layer.loss(h, targets, mask)
    err = check_grads(lambda: layer.loss(h, targets, mask)[0], {"h": h, **layer.params}, {"h": dh, **grads})
    assert max(err.values()) < 1e-6, err


def test_full_path_backward_matches_finite_differences():
    layer, h, _, _ = _problem(seed=1)
    G = np.random.default_rng(5).standard_normal((R, N))        # any dL/dlog p

    def f():
        return float(np.sum(layer.forward(h)[0] * G))
    logp, cache = layer.forward(h)
    dh, grads = layer.backward(G, cache)
    err = check_grads(f, {"h": h, **layer.params}, {"h": dh, **grads})
    assert max(err.values()) < 1e-6, err


def test_training_path_equals_the_full_path():
    """The loss reads only the targets' clusters; it is the mean -log p of the full path, and its
    gradients are the full path's backward of that mean."""
    layer, h, targets, mask = _problem(seed=2)
    loss, dh, grads = layer.loss(h, targets, mask)
    logp, cache = layer.forward(h)
    count = mask.sum()
    assert loss == pytest.approx(-logp[np.arange(R), targets][mask].sum() / count, rel=1e-12)
    G = np.zeros((R, N))
    G[np.arange(R)[mask], targets[mask]] = -1.0 / count
    dh_full, grads_full = layer.backward(G, cache)
    assert rel_error(dh, dh_full) < 1e-12
    for name in grads:
        assert rel_error(grads[name], grads_full[name]) < 1e-12, name


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_matches_torch_adaptive_log_softmax_with_loss(dtype, tol):
    layer, h, targets, _ = _problem(seed=3, dtype=dtype)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(H, N, list(CUTOFFS), div_value=2.0, head_bias=True).to(tdt)
    state = ref.state_dict()
    assert set(state) == set(layer.params)                     # the same names, one for one
    ref.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.params.items()})
    th = torch.tensor(h, requires_grad=True)
    out = ref(th, torch.from_numpy(targets))
    out.loss.backward()
    loss, dh, grads = layer.loss(h, targets)
    assert abs(loss - out.loss.item()) < tol * max(1.0, abs(out.loss.item()))
    assert rel_error(dh, th.grad.numpy()) < tol
    for name, p in ref.named_parameters():
        assert rel_error(grads[name], p.grad.numpy()) < tol, name
    np.testing.assert_allclose(layer.forward(h)[0], ref.log_prob(th).detach().numpy(), rtol=tol, atol=tol)


def test_bad_cutoffs_and_targets_are_clear_errors():
    with pytest.raises(ValueError, match="increasing"):
        AdaptiveSoftmax(H, N, (5, 5))
    with pytest.raises(ValueError, match="below the vocabulary size 23"):
        AdaptiveSoftmax(H, N, (5, 23))
    with pytest.raises(ValueError, match="0 dimensions"):
        AdaptiveSoftmax(4, N, (5, 11, 17), div_value=4.0)
    layer, h, targets, _ = _problem()
    with pytest.raises(ValueError, match=r"target ids must be in \[0, 23\)"):
        layer.loss(h, np.full(R, 23))


# ---- in the language model -----------------------------------------------------------------
from bptt.models.language_model import LanguageModel, LanguageModelBatch, LanguageModelConfig  # noqa: E402
from bptt.sparse import as_dense  # noqa: E402


def _lm(mode, seed=1):
    c = LanguageModelConfig(13, 4, 6, mode, dtype="float64", adaptive_cutoffs=(4, 9), adaptive_div=2.0)
    model = LanguageModel(c, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for p in model.params.values():
        p[...] = rng.standard_normal(p.shape) * 0.5
    ids, targets = rng.integers(1, 13, (5, 3)), rng.integers(0, 13, (5, 3))
    mask = np.ones((5, 3), dtype=bool)
    mask[3:, 1] = False
    return model, LanguageModelBatch(ids, targets, mask=mask)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_adaptive_language_model_gradients_match_finite_differences(mode):
    model, batch = _lm(mode)
    assert {"fc.head.weight", "fc.head.bias", "fc.tail.0.0.weight", "fc.tail.1.1.weight"} <= set(model.params)
    result = model.adaptive_loss_and_grads(batch)
    err = check_grads(lambda: model.adaptive_loss_and_grads(batch).loss, model.params,
                      {k: as_dense(v) for k, v in result.grads.items()})
    assert max(err.values()) < 1e-6, err


def test_adaptive_training_path_equals_the_full_forward_and_backward():
    """forward gives log p of every word (its rows are distributions, so the cross-entropy of the
    full path is -log p of the target): the training path must give the same loss and gradients."""
    model, batch = _lm("lstm", seed=4)
    fast, full = model.adaptive_loss_and_grads(batch), model.loss_and_grads(batch)
    assert fast.loss == pytest.approx(full.loss, rel=1e-12) and fast.count == full.count == 13
    for name in full.grads:
        assert rel_error(as_dense(fast.grads[name]), as_dense(full.grads[name])) < 1e-10, name
    (logp, _), _ = model.forward(batch.ids)
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, atol=1e-12)


def test_adaptive_config_refuses_tied_weights_and_bad_cutoffs():
    with pytest.raises(ValueError, match="adaptive softmax has no single"):
        LanguageModelConfig(13, 6, 6, "lstm", tie_weights=True, adaptive_cutoffs=(4,))
    with pytest.raises(ValueError, match="below the vocabulary size 13"):
        LanguageModelConfig(13, 6, 6, "lstm", adaptive_cutoffs=(4, 13))

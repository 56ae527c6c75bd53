"""The sampled softmax: finite differences in float64, PyTorch autograd of the same formula, the
logQ correction, accidental hits, the sampler; tied embeddings in the language model."""
import numpy as np
import pytest
import torch

from bptt.gradcheck import check_grads, rel_error
from bptt.models.language_model import LanguageModel, LanguageModelBatch, LanguageModelConfig
from bptt.sampled_softmax import UnigramSampler, sampled_softmax
from bptt.sparse import as_dense

R, H, N, K = 7, 5, 13, 6


def _problem(seed=0, dtype=np.float64, with_hit=True):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((R, H)).astype(dtype)
    weight = rng.standard_normal((N, H)).astype(dtype)
    bias = rng.standard_normal(N).astype(dtype)
    targets = rng.integers(0, N, R)
    candidates = rng.integers(0, N, K)
    if with_hit:
        candidates[1] = targets[2]          # an accidental hit, and a repeated candidate
        candidates[3] = candidates[4]
    counts = rng.integers(1, 50, N).astype(float)
    sampler = UnigramSampler(counts)
    mask = np.ones(R, dtype=bool)
    mask[[1, 5]] = False
    return h, weight, bias, targets, candidates, sampler, mask


def _args(p):
    h, weight, bias, targets, candidates, sampler, mask = p
    return (h, weight, bias, targets, candidates, sampler.log_expected_count(targets, K),
            sampler.log_expected_count(candidates, K), mask)


@pytest.mark.parametrize("use_bias", [True, False])
def test_sampled_softmax_gradients_match_finite_differences(use_bias):
    p = _problem()
    h, weight, bias, targets, candidates, _, mask = p
    args = list(_args(p))
    if not use_bias:
        args[2] = None
    loss, dh, g = sampled_softmax(*args)
    arrays = {"h": h, "weight": weight, **({"bias": bias} if use_bias else {})}
    analytic = {"h": dh, "weight": as_dense(g.weight), **({"bias": g.bias} if use_bias else {})}
    err = check_grads(lambda: sampled_softmax(*args)[0], arrays, analytic)
    assert max(err.values()) < 1e-6, err
    assert g.weight.indices.tolist() == sorted(set(targets[mask]) | set(candidates))


def _torch_sampled(h, weight, bias, targets, candidates, log_q_t, log_q_c, mask):
    """The module docstring's formula written with torch ops, differentiated by autograd."""
    th, tw, tb = (torch.tensor(a, requires_grad=True) for a in (h, weight, bias))
    t, c = torch.from_numpy(targets), torch.from_numpy(candidates)
    z_true = (th * tw[t]).sum(1) + tb[t] - torch.from_numpy(log_q_t)
    z_neg = th @ tw[c].T + tb[c] - torch.from_numpy(log_q_c)
    z_neg = z_neg.masked_fill(c[None, :] == t[:, None], float("-inf"))
    z = torch.cat([z_true[:, None], z_neg], 1)
    losses = torch.logsumexp(z, 1) - z[:, 0]
    m = torch.from_numpy(mask)
    loss = losses[m].mean()
    loss.backward()
    return loss.item(), th.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_sampled_softmax_matches_torch_autograd(dtype, tol):
    p = _problem(seed=3, dtype=dtype)
    args = _args(p)
    loss, dh, g = sampled_softmax(*args)
    t_loss, t_dh, t_dw, t_db = _torch_sampled(*args)
    assert abs(loss - t_loss) < tol * max(1.0, abs(t_loss))
    assert rel_error(dh, t_dh) < tol
    assert rel_error(as_dense(g.weight), t_dw) < tol
    assert rel_error(g.bias, t_db) < tol


def test_accidental_hit_is_not_a_negative():
    h, weight, bias, targets, candidates, sampler, mask = _problem(seed=4, with_hit=False)
    lq = sampler.log_expected_count
    base = sampled_softmax(h, weight, bias, targets, candidates, lq(targets, K), lq(candidates, K))[0]
    # the same candidates plus one equal to row 0's target: only rows whose target it is change
    with_hit = np.append(candidates, targets[0])
    mask0 = targets == targets[0]
    rows = ~mask0
    a = sampled_softmax(h, weight, bias, targets, with_hit, lq(targets, K), lq(with_hit, K), rows)[0]
    b = sampled_softmax(h, weight, bias, targets, candidates, lq(targets, K), lq(with_hit, K)[:-1], rows)[0]
    assert a != b                    # other rows see the new negative
    only = sampled_softmax(h, weight, bias, targets, with_hit, lq(targets, K), lq(with_hit, K), mask0)[0]
    alone = sampled_softmax(h, weight, bias, targets, candidates, lq(targets, K), lq(with_hit, K)[:-1],
                            mask0)[0]
    assert only == pytest.approx(alone, rel=1e-12)      # the hit row ignores it
    assert np.isfinite(base)


def test_sampled_loss_with_every_word_and_no_correction_is_the_full_softmax():
    """K = N distinct candidates, log Q = 0: the sampled loss is the full cross-entropy."""
    rng = np.random.default_rng(5)
    h, weight, bias = rng.standard_normal((R, H)), rng.standard_normal((N, H)), rng.standard_normal(N)
    targets = rng.integers(0, N, R)
    loss, dh, _ = sampled_softmax(h, weight, bias, targets, np.arange(N), np.zeros(R), np.zeros(N))
    z = h @ weight.T + bias
    full = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(R), targets])
    assert loss == pytest.approx(full, rel=1e-12)


def test_unigram_sampler_draws_counts_to_the_power():
    counts = np.array([0, 0, 1, 16, 81], dtype=float)
    s = UnigramSampler(counts, power=0.75)
    expected = np.array([0, 0, 1, 8, 27]) / 36
    assert np.allclose(s.q, expected)
    draws = s.sample(200_000, np.random.default_rng(0))
    freq = np.bincount(draws, minlength=5) / draws.size
    assert freq[0] == freq[1] == 0                       # never a word counted 0
    assert np.abs(freq - expected).max() < 0.005
    assert np.allclose(s.log_expected_count(np.array([2, 4]), 10), np.log(10 * expected[[2, 4]]))


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_tied_language_model_gradients_match_finite_differences(mode):
    """fc.weight is embedding.weight: one parameter, its gradient the sum of both uses, for the
    full and the sampled softmax."""
    c = LanguageModelConfig(11, 4, 4, mode, tie_weights=True, dtype="float64")
    model = LanguageModel(c, np.random.default_rng(1))
    assert "fc.weight" not in model.params and model.fc.params["weight"] is model.params["embedding.weight"]
    rng = np.random.default_rng(2)
    for p in model.params.values():
        p[...] = rng.standard_normal(p.shape) * 0.5
    ids, targets = rng.integers(1, 11, (5, 3)), rng.integers(1, 11, (5, 3))
    batch = LanguageModelBatch(ids, targets)
    result = model.loss_and_grads(batch)
    err = check_grads(lambda: model.loss_and_grads(batch).loss, model.params,
                      {k: as_dense(v) for k, v in result.grads.items()})
    assert max(err.values()) < 1e-6, err
    sampler = UnigramSampler(np.arange(11) + 1.0)
    cand = np.array([3, 3, 7, 1, 9])
    lq_t, lq_c = sampler.log_expected_count(targets, 5), sampler.log_expected_count(cand, 5)
    step = lambda: model.sampled_loss_and_grads(batch, cand, lq_t, lq_c)  # noqa: E731
    result = step()
    err = check_grads(lambda: step().loss, model.params, {k: as_dense(v) for k, v in result.grads.items()})
    assert max(err.values()) < 1e-6, err


def test_tied_language_model_matches_torch():
    """The tied model's loss and gradients equal a torch module whose decoder weight is its
    encoder weight (Press & Wolf), in float64."""
    V, E, T, B = 9, 4, 6, 2
    model = LanguageModel(LanguageModelConfig(V, E, E, "lstm", tie_weights=True, dtype="float64"),
                          np.random.default_rng(3))
    emb = torch.nn.Embedding(V, E, padding_idx=0).double()
    rnn = torch.nn.LSTM(E, E).double()
    fc = torch.nn.Linear(E, V).double()
    fc.weight = emb.weight
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(model.params["embedding.weight"]))
        for name, p in rnn.named_parameters():
            p.copy_(torch.from_numpy(model.params[f"rnn.{name}"]))
        fc.bias.copy_(torch.from_numpy(model.params["fc.bias"]))
    rng = np.random.default_rng(4)
    ids, targets = rng.integers(1, V, (T, B)), rng.integers(1, V, (T, B))
    result = model.loss_and_grads(LanguageModelBatch(ids, targets))
    out, _ = rnn(emb(torch.from_numpy(ids)))
    loss = torch.nn.functional.cross_entropy(fc(out).reshape(-1, V), torch.from_numpy(targets).reshape(-1))
    loss.backward()
    assert result.loss == pytest.approx(loss.item(), rel=1e-12)
    assert rel_error(as_dense(result.grads["embedding.weight"]), emb.weight.grad.numpy()) < 1e-10
    assert rel_error(result.grads["rnn.weight_hh_l0"], rnn.weight_hh_l0.grad.numpy()) < 1e-10


def test_tie_weights_needs_equal_sizes():
    with pytest.raises(ValueError, match="tie_weights needs embedding_dim == hidden_size"):
        LanguageModelConfig(10, 4, 5, tie_weights=True)

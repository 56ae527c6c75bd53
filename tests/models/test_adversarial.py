"""Adversarial and virtual adversarial training of the classifier (Miyato et al. 2017): the
perturbation's direction and norm, and the gradient of the whole objective (r held constant)
against finite differences in float64 and against PyTorch autograd of the same formula."""
import numpy as np
import pytest
import torch

from bptt.adversarial import kl_and_grad, per_example_direction
from bptt.export.torch_module import TorchClassifier
from bptt.gradcheck import check_grads, numerical_grad, rel_error
from bptt.losses import softmax, softmax_cross_entropy
from bptt.models import Classifier, ClassifierBatch, ClassifierConfig
from bptt.models._compose import real_steps
from torch_reference import assert_param_grads_match

EPS, XI = 0.7, 0.1


def _setup(mode="lstm", bidirectional=True, pooling="max+mean", dtype="float64", seed=4):
    rng = np.random.default_rng(seed)
    config = ClassifierConfig(12, 3, 4, 3, mode, 2, bidirectional, pooling=pooling, dtype=dtype)
    model = Classifier(config, rng, dropout_seed=11)
    lengths = np.array([3, 6, 1, 5])
    ids = rng.integers(2, 12, size=(6, 4))
    ids[np.arange(6)[:, None] >= lengths[None, :]] = 0
    labels = rng.integers(0, 3, size=4)
    return model, ClassifierBatch(ids, lengths, labels)


def _loss_at(model, batch, r=None):
    return softmax_cross_entropy(model.forward(batch.ids, batch.lengths, perturbation=r)[0], batch.labels)[0]


def _embedded_grad(model, batch):
    logits, cache = model.forward(batch.ids, batch.lengths)
    _, d = softmax_cross_entropy(logits, batch.labels)
    return model.backward_to_input(d, cache)[0]                       # (T, B, E)


def test_input_gradient_matches_finite_differences():
    """g = dL/de, where the perturbation enters: the direction r is built from it."""
    model, batch = _setup()
    g = _embedded_grad(model, batch)
    r = np.zeros(g.shape)
    numeric = numerical_grad(lambda: _loss_at(model, batch, r), r)
    real = real_steps(6, batch.lengths, 4)
    assert rel_error(g, numeric) < 1e-7
    assert np.all(g[~real] == 0) and np.abs(g[real]).min() > 0


def test_perturbation_has_norm_eps_per_example_along_the_gradient():
    model, batch = _setup()
    g = _embedded_grad(model, batch)
    real = real_steps(6, batch.lengths, 4)
    r = model.adversarial_perturbation(g, real, EPS)
    for b, n in enumerate(batch.lengths):
        assert np.linalg.norm(r[:n, b]) == pytest.approx(EPS, rel=1e-12)
        cosine = np.vdot(r[:n, b], g[:n, b]) / (np.linalg.norm(r[:n, b]) * np.linalg.norm(g[:n, b]))
        assert cosine == pytest.approx(1.0, abs=1e-12)
        assert np.all(r[n:, b] == 0)
    # to first order the loss rises by eps * ||g_b|| * B-weighted: moving along r beats a random r
    rand = per_example_direction(np.random.default_rng(0).standard_normal(g.shape), real, EPS)
    assert _loss_at(model, batch, r) > _loss_at(model, batch, rand) > 0


def test_zero_gradient_gives_zero_perturbation_and_float32_is_safe():
    real = np.array([[True, True], [True, False]])
    g = np.zeros((2, 2, 3), dtype=np.float32)
    g[:, 1] = 1e-30                                     # squares underflow in float32 without the rescale
    r = per_example_direction(g, real, 2.0)
    assert r.dtype == np.float32 and np.all(r[:, 0] == 0)
    assert np.linalg.norm(r[0, 1]) == pytest.approx(2.0, rel=1e-6) and np.all(r[1, 1] == 0)


def test_adversarial_gradient_matches_finite_differences_with_r_fixed():
    """d/dθ [L(θ; e) + L(θ; e + r)], r computed once at θ and held constant (as in the paper)."""
    model, batch = _setup()
    result = model.loss_and_grads(batch, training=False, adversarial=EPS)
    r = model.adversarial_perturbation(_embedded_grad(model, batch), real_steps(6, batch.lengths, 4), EPS)
    total = lambda: _loss_at(model, batch) + _loss_at(model, batch, r)
    assert result.loss == pytest.approx(total(), rel=1e-12)
    errors = check_grads(total, model.params, result.grads)
    assert max(errors.values()) < 1e-6, errors
    clean = model.loss_and_grads(batch, training=False).grads
    assert rel_error(np.asarray(result.grads["fc.weight"]), clean["fc.weight"]) > 1e-3   # it adds something


def _vat_r(model, batch, p, seed=5):
    model.dropout_rng = np.random.default_rng(seed)
    return model.virtual_adversarial_perturbation(batch, p, real_steps(6, batch.lengths, 4), EPS, XI)


def test_virtual_perturbation_is_one_power_iteration_of_the_kl():
    model, batch = _setup()
    p = softmax(model.forward(batch.ids, batch.lengths)[0])
    real = real_steps(6, batch.lengths, 4)
    d = per_example_direction(np.random.default_rng(5).standard_normal((6, 4, 3)), real, XI)
    kl = lambda: kl_and_grad(p, model.forward(batch.ids, batch.lengths, perturbation=d)[0])[0]
    g = numerical_grad(kl, d, eps=1e-4)         # dKL/dd at d, by differences (KL ~ 1e-3: a wider step)
    r = _vat_r(model, batch, p)
    for b, n in enumerate(batch.lengths):
        assert np.linalg.norm(r[:n, b]) == pytest.approx(EPS, rel=1e-12)
        assert np.all(r[n:, b] == 0)
    assert rel_error(r, per_example_direction(g, real, EPS)) < 1e-6


def test_kl_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    p, z = softmax(rng.standard_normal((4, 3))), rng.standard_normal((4, 3))
    kl, d = kl_and_grad(p, z)
    assert kl > 0 and kl_and_grad(p, np.log(p))[0] == pytest.approx(0.0, abs=1e-15)
    assert rel_error(d, numerical_grad(lambda: kl_and_grad(p, z)[0], z)) < 1e-8


def test_virtual_adversarial_gradient_matches_finite_differences_with_p_and_r_fixed():
    model, batch = _setup(mode="gru", pooling="last")
    p = softmax(model.forward(batch.ids, batch.lengths)[0])
    model.dropout_rng = np.random.default_rng(5)
    result = model.loss_and_grads(batch, training=False, virtual_adversarial=EPS, vat_xi=XI)
    r = _vat_r(model, batch, p)
    total = lambda: _loss_at(model, batch) + kl_and_grad(p, model.forward(batch.ids, batch.lengths,
                                                                           perturbation=r)[0])[0]
    assert result.loss == pytest.approx(total(), rel=1e-12)
    errors = check_grads(total, model.params, result.grads)
    assert max(errors.values()) < 1e-6, errors


def _torch_twin(model):
    twin = TorchClassifier(model.config).to(torch.float64)
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    return twin


def _torch_direction(g, lengths, eps):
    mask = (torch.arange(g.shape[0])[:, None] < lengths[None, :])[..., None].to(g.dtype)
    g = g * mask
    return eps * g / g.pow(2).sum(dim=(0, 2), keepdim=True).sqrt()


@pytest.mark.parametrize("mode,pooling", [("lstm", "max+mean"), ("gru", "last"), ("rnn_tanh", "mean")])
def test_adversarial_matches_torch_autograd(mode, pooling):
    model, batch = _setup(mode=mode, pooling=pooling)
    twin = _torch_twin(model)
    ids, lengths, labels = (torch.from_numpy(a) for a in batch)
    e = twin.embedding(ids)
    loss = torch.nn.functional.cross_entropy(twin.from_embedded(e, lengths), labels)
    g, = torch.autograd.grad(loss, e, retain_graph=True)
    r = _torch_direction(g, lengths, EPS).detach()
    total = loss + torch.nn.functional.cross_entropy(twin.from_embedded(e + r, lengths), labels)
    total.backward()
    result = model.loss_and_grads(batch, training=False, adversarial=EPS)
    ours_r = model.adversarial_perturbation(_embedded_grad(model, batch), real_steps(6, batch.lengths, 4), EPS)
    assert rel_error(ours_r, r.numpy()) < 1e-10
    assert result.loss == pytest.approx(total.item(), rel=1e-12)
    assert_param_grads_match(result.grads, twin, np.float64, 1e-9, nonzero=True)


def test_virtual_adversarial_matches_torch_autograd():
    model, batch = _setup()
    twin = _torch_twin(model)
    ids, lengths, labels = (torch.from_numpy(a) for a in batch)
    e = twin.embedding(ids)
    logits = twin.from_embedded(e, lengths)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    p = torch.softmax(logits, dim=1).detach()

    def kl(z):
        return (p * (p.log() - torch.log_softmax(z, dim=1))).sum() / z.shape[0]
    d0 = np.random.default_rng(5).standard_normal((6, 4, 3))
    d = _torch_direction(torch.from_numpy(d0), lengths, XI).requires_grad_(True)
    g, = torch.autograd.grad(kl(twin.from_embedded(e.detach() + d, lengths)), d)
    r = _torch_direction(g, lengths, EPS).detach()
    total = loss + kl(twin.from_embedded(e + r, lengths))
    total.backward()
    model.dropout_rng = np.random.default_rng(5)
    result = model.loss_and_grads(batch, training=False, virtual_adversarial=EPS, vat_xi=XI)
    assert result.loss == pytest.approx(total.item(), rel=1e-10)
    assert_param_grads_match(result.grads, twin, np.float64, 1e-8, nonzero=True)


def test_training_mode_draws_fresh_dropout_for_the_perturbed_pass_and_stays_finite():
    rng = np.random.default_rng(2)
    model = Classifier(ClassifierConfig(12, 3, 4, 2, "lstm", 1, True, embedding_dropout=0.3,
                                        output_dropout=0.3, pooling="max"), rng)
    _, batch = _setup()
    batch = batch._replace(labels=batch.labels % 2)
    result = model.loss_and_grads(batch, adversarial=0.5, virtual_adversarial=0.5)
    assert np.isfinite(result.loss) and all(np.isfinite(np.asarray(getattr(g, "values", g))).all()
                                            for g in result.grads.values())
    assert result.grads["fc.weight"].dtype == np.float32

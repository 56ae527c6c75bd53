"""ULMFiT's fine-tuning steps: per-parameter learning rates (against torch's parameter groups),
the slanted triangular rate, gradual unfreezing, and the sentiment job that uses them."""
import itertools
import math

import numpy as np
import pytest
import torch

from bptt import io
from bptt.jobs.sentiment import SentimentClassifier
from bptt.models import Classifier
from bptt.optim import (SGD, Adagrad, Adam, AdamW, LayerwiseLR, RMSprop, ScaledGrads, layer_depths,
                        slanted_triangular)
from bptt.train import CHECKPOINT
from helpers import negation_data

OPTIMIZERS = [(SGD, torch.optim.SGD, dict(momentum=0.9, nesterov=True)),
              (Adam, torch.optim.Adam, dict(weight_decay=0.01)),
              (AdamW, torch.optim.AdamW, {}),
              (RMSprop, torch.optim.RMSprop, dict(momentum=0.5, centered=True)),
              (Adagrad, torch.optim.Adagrad, dict(lr_decay=0.1))]


@pytest.mark.parametrize("ours,theirs,kw", OPTIMIZERS)
def test_per_parameter_factors_match_torch_parameter_groups(ours, theirs, kw):
    rng = np.random.default_rng(0)
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    twins = {n: torch.tensor(v.copy(), requires_grad=True) for n, v in params.items()}
    opt = ours(params, lr=0.05, **kw)
    topt = theirs([{"params": [twins["a"]], "lr": 0.05 * 0.25}, {"params": [twins["b"]], "lr": 0.05}], **kw)
    for step in range(4):
        grads = {n: rng.standard_normal(v.shape) for n, v in params.items()}
        opt.step(ScaledGrads(grads, {"a": 0.25}))
        for n, t in twins.items():
            t.grad = torch.from_numpy(grads[n])
        topt.step()
    for n, t in twins.items():
        np.testing.assert_allclose(params[n], t.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=n)
    assert opt.lr == 0.05                                     # the base rate is untouched


def test_slanted_triangular_follows_the_paper():
    """T = 100, cut_frac 0.1, ratio 32: cut = 10; up from 1/32 to 1 over 10 steps, down over 90."""
    values = [slanted_triangular(t, 100, 0.1, 32) for t in range(101)]
    assert values[0] == pytest.approx(1 / 32) and values[10] == pytest.approx(1.0)
    assert values[5] == pytest.approx((1 + 0.5 * 31) / 32)
    assert values[55] == pytest.approx((1 + (1 - 45 / 90) * 31) / 32)
    assert values[100] == pytest.approx(1 / 32) and slanted_triangular(500, 100) == pytest.approx(1 / 32)
    assert np.all(np.diff(values[:11]) > 0) and np.all(np.diff(values[10:]) < 0)
    assert slanted_triangular(0, 5, 0.1, 32) == pytest.approx(1 / 32)        # cut at least 1 step


def test_layer_groups_count_from_the_top():
    names = ["embedding.weight", "rnn.weight_ih_l0", "rnn.bias_hh_l0_reverse", "rnn.weight_hh_l1_reverse",
             "fc.weight", "fc.bias", "feature_embeddings.0.weight"]
    assert layer_depths(names, 2) == {"embedding.weight": 3, "rnn.weight_ih_l0": 2, "rnn.bias_hh_l0_reverse": 2,
                                      "rnn.weight_hh_l1_reverse": 1, "fc.weight": 0, "fc.bias": 0,
                                      "feature_embeddings.0.weight": 3}


def test_discriminative_factors_schedule_and_unfreezing_combine():
    depths = {"fc.weight": 0, "rnn.weight_hh_l0": 1, "embedding.weight": 2}
    plan = LayerwiseLR(depths, decay=2.6, total_steps=100, cut_fraction=0.1, ratio=32, steps_per_epoch=10)
    f = plan.factors(15)                                      # epoch 2: fc and the recurrent layer
    s = slanted_triangular(15, 100, 0.1, 32)
    assert f == pytest.approx({"fc.weight": s, "rnn.weight_hh_l0": s / 2.6, "embedding.weight": 0.0})
    assert plan.factors(25)["embedding.weight"] == pytest.approx(slanted_triangular(25, 100) / 2.6 ** 2)
    grads = {n: np.ones(2) for n in depths}
    applied = plan.apply(grads, 3)                            # epoch 1: fc alone
    assert list(applied) == ["fc.weight"] and applied.lr_scale["fc.weight"] == pytest.approx(
        slanted_triangular(3, 100))
    assert LayerwiseLR(depths, decay=2.6).factors(10**6) == pytest.approx(
        {"fc.weight": 1.0, "rnn.weight_hh_l0": 1 / 2.6, "embedding.weight": 1 / 2.6 ** 2})


SMALL = dict(cell="gru", hidden_size=12, embedding_dim=8, bidirectional=False, pooling="last",
             embedding_dropout=0.0, output_dropout=0.0, batch_size=32, lr=0.01, seed=0, patience=None)


def test_gradual_unfreezing_trains_only_the_classifier_head_in_the_first_epoch():
    texts, labels = negation_data(200, 1)
    dev = negation_data(40, 2)
    clf = SentimentClassifier(**SMALL, epochs=1, gradual_unfreezing=True).fit(texts, labels, *dev, progress=False)
    first = Classifier(clf.model_.config, np.random.default_rng(0), dropout_seed=1)   # its initial weights
    for name, p in clf.model_.params.items():
        if name.startswith("fc."):
            assert not np.array_equal(p, first.params[name]), name
        else:
            np.testing.assert_array_equal(p, first.params[name], err_msg=name)


def test_every_plan_and_the_adversarial_objective_resume_exactly(tmp_path, monkeypatch):
    import time as time_module
    texts, labels = negation_data(200, 3)
    dev = negation_data(40, 4)
    settings = dict(SMALL, epochs=3, discriminative_lr=2.6, slanted_triangular=True, gradual_unfreezing=True,
                    adversarial=0.5, virtual_adversarial=0.5)
    straight = SentimentClassifier(**settings).fit(texts, labels, *dev, out_dir=tmp_path / "a", progress=False)
    plain = SentimentClassifier(**dict(settings, slanted_triangular=False)).fit(texts, labels, *dev, progress=False)
    assert not np.array_equal(straight.model_.params["fc.weight"], plain.model_.params["fc.weight"])
    clock = itertools.count(0.0, 1.0)
    with monkeypatch.context() as m:
        m.setattr(time_module, "perf_counter", lambda: next(clock))
        cut = SentimentClassifier(**settings).fit(texts, labels, *dev, out_dir=tmp_path / "b", progress=False,
                                                  time_budget=25.0)
    st = cut.trainer_.state
    assert cut.trainer_.stop_reason == "time budget" and 0 < st.batches_done < 3 * math.ceil(len(texts) / 32)
    resumed = SentimentClassifier(**settings).fit(texts, labels, *dev, out_dir=tmp_path / "b",
                                                  resume=tmp_path / "b" / CHECKPOINT, progress=False)
    assert resumed.trainer_.state.epoch == 3
    ours, theirs = (io.load_params(tmp_path / run / CHECKPOINT)[0] for run in "ba")   # the last weights
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)


@pytest.mark.parametrize("bad,said", [(dict(discriminative_lr=0.0), "discriminative_lr must be in \\[0.01, 100\\]"),
                                      (dict(discriminative_lr=1e-300), "discriminative_lr must be in"),   # no overflow
                                      (dict(stlr_ratio=0.5), "stlr_ratio must be >= 1"),
                                      (dict(stlr_cut_fraction=1.0), "stlr_cut_fraction must be in"),
                                      (dict(adversarial=-1.0), "adversarial must be"),
                                      (dict(vat_xi=0.0), "vat_xi must be > 0")])
def test_bad_settings_are_refused(bad, said):
    with pytest.raises(ValueError, match=said):
        SentimentClassifier(**bad)


def test_a_run_checkpointed_before_the_pretraining_settings_existed_resumes(tmp_path):
    """Its checkpoint's identity lacks them (written by an older version: simulated by taking
    them out); an absent setting reads as its default, so at their defaults they are not asked for."""
    import json
    texts, labels = negation_data(100, 5)
    dev = negation_data(30, 6)
    settings = dict(SMALL, epochs=1)
    SentimentClassifier(**settings).fit(texts, labels, *dev, out_dir=tmp_path, progress=False)
    path = tmp_path / CHECKPOINT
    tensors, meta = io.load_params(path)
    ident = json.loads(meta["identity"])
    for key in ("init_from", "discriminative_lr", "slanted_triangular", "stlr_cut_fraction", "stlr_ratio",
                "gradual_unfreezing", "adversarial", "virtual_adversarial", "vat_xi"):
        del ident["settings"][key]
    del ident["defaults"]
    io.save_params(path, tensors, {**meta, "identity": json.dumps(ident)})
    resumed = SentimentClassifier(**dict(settings, epochs=2)).fit(texts, labels, *dev, out_dir=tmp_path,
                                                                  resume=path, progress=False)
    assert resumed.trainer_.state.epoch == 2
    with pytest.raises(ValueError, match="adversarial was 0.0, now 0.5"):
        SentimentClassifier(**dict(settings, epochs=3, adversarial=0.5)).fit(texts, labels, *dev, out_dir=tmp_path,
                                                                             resume=path, progress=False)

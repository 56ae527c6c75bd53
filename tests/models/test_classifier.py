"""The many-to-one classifier: gradients of every parameter against finite differences and the
whole model against a PyTorch twin (nn.Embedding -> packed nn.LSTM/GRU/RNN -> nn.Linear)."""
import numpy as np
import pytest
import torch

from bptt.gradcheck import check_grads, rel_error
from bptt.losses import softmax_cross_entropy
from bptt.export.torch_module import TorchClassifier
from bptt.models import Classifier, ClassifierBatch, ClassifierConfig


def _data(rng, T=6, B=4, V=12):
    lengths = np.array([3, 6, 1, 5])[:B]
    ids = rng.integers(1, V, size=(T, B))
    ids[np.arange(T)[:, None] >= lengths[None, :]] = 0        # padding id
    labels = rng.integers(0, 3, size=B)
    return ids, lengths, labels


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "max+mean", "last+max+mean"])
@pytest.mark.parametrize("mode,bidirectional", [("lstm", True), ("gru", False), ("rnn_tanh", True)])
def test_gradients_match_finite_differences(mode, bidirectional, pooling):
    rng = np.random.default_rng(5)
    model = Classifier(ClassifierConfig(12, 3, 4, 3, mode, 2, bidirectional, pooling=pooling,
                                        dtype="float64"), rng)
    ids, lengths, labels = _data(rng)
    grads = model.loss_and_grads(ClassifierBatch(ids, lengths, labels)).grads
    f = lambda: softmax_cross_entropy(model.forward(ids, lengths)[0], labels)[0]
    errors = check_grads(f, model.params, grads)
    assert max(errors.values()) < 1e-6, errors
    assert set(grads) == set(model.params)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "max+mean", "last+max+mean"])
@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_relu"])
def test_matches_torch(mode, pooling, dtype, tol):
    rng = np.random.default_rng(9)
    c = ClassifierConfig(12, 5, 6, 3, mode, 2, True, pooling=pooling, dtype=dtype)
    model = Classifier(c, rng)
    twin = TorchClassifier(c).to(getattr(torch, dtype))
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    ids, lengths, labels = _data(rng)
    loss, grads, *_ = model.loss_and_grads(ClassifierBatch(ids, lengths, labels))
    logits, _ = model.forward(ids, lengths)
    logits_t = twin(torch.from_numpy(ids), torch.from_numpy(lengths))
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(labels))
    loss_t.backward()
    assert rel_error(logits, logits_t.detach().numpy()) < tol
    assert abs(loss - loss_t.item()) < tol * max(1, abs(loss))
    for name, p in twin.named_parameters():
        g = grads[name].to_dense() if hasattr(grads[name], "to_dense") else grads[name]
        assert rel_error(g, p.grad.numpy()) < tol, name


def test_step_result_counts_examples():
    """The loss is a mean per example: count = examples = B; tokens = the real steps read."""
    rng = np.random.default_rng(3)
    model = Classifier(ClassifierConfig(12, 3, 4, 3, "gru", dtype="float64"), rng)
    ids, lengths, labels = _data(rng)
    result = model.loss_and_grads(ClassifierBatch(ids, lengths, labels), training=False)
    assert (result.examples, result.tokens, result.count, result.state) == (4, 15, 4, None)
    per_example = [softmax_cross_entropy(model.forward(ids[:n, b:b + 1], lengths[b:b + 1])[0], labels[b:b + 1])[0]
                   for b, n in enumerate(lengths)]
    assert result.loss == pytest.approx(np.mean(per_example), rel=1e-12)


def test_save_load_round_trip(tmp_path):
    from bptt import io
    rng = np.random.default_rng(2)
    model = Classifier(ClassifierConfig(12, 5, 6, 2, "gru", 1, True, pooling="max"), rng)
    ids, lengths, _ = _data(rng)
    io.save(model, tmp_path / "m")
    loaded = io.load(tmp_path / "m")
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.predict_proba(ids, lengths), model.predict_proba(ids, lengths))


def test_dropout_gradients_match_finite_differences_with_a_fixed_mask():
    rng = np.random.default_rng(8)
    model = Classifier(ClassifierConfig(12, 3, 4, 3, "lstm", 2, True, dropout=0.3, embedding_dropout=0.3,
                                        output_dropout=0.3, pooling="mean", dtype="float64"), rng)
    ids, lengths, labels = _data(rng)

    def run():
        model.dropout_rng = np.random.default_rng(1)
        model.rnn.dropout_rng = np.random.default_rng(2)
        return model.forward(ids, lengths, training=True)

    logits, cache = run()
    assert (cache.emb_mask == 0).any() and (cache.out_mask == 0).any()
    loss, d = softmax_cross_entropy(logits, labels)
    grads = model.backward(d, cache)
    errors = check_grads(lambda: softmax_cross_entropy(run()[0], labels)[0], model.params, grads)
    assert max(errors.values()) < 1e-6, errors
    np.testing.assert_array_equal(model.forward(ids, lengths)[0], model.forward(ids, lengths)[0])

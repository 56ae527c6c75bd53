"""The sequence tagger: gradients of every parameter against finite differences (with padding,
features and dropout) and the whole model against a PyTorch twin
(nn.Embedding + feature embeddings -> packed nn.LSTM/GRU/RNN -> nn.Linear at every step)."""
import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bptt.gradcheck import check_grads, rel_error
from bptt.losses import softmax_cross_entropy
from bptt.models.tagger import Tagger, TaggerBatch, TaggerConfig, real_steps


def _data(rng, T=6, B=4, V=12, C=5, feature_sizes=(7, 4)):
    lengths = np.array([3, 6, 1, 5])[:B]
    pad = ~real_steps(T, lengths, B)
    ids = rng.integers(1, V, size=(T, B))
    ids[pad] = 0                                              # padding id
    features = np.stack([rng.integers(1, v, size=(T, B)) for v in feature_sizes], axis=2) \
        if feature_sizes else None
    if features is not None:
        features[pad] = 0
    tags = rng.integers(0, C, size=(T, B))
    tags[pad] = -100                                          # never read: masked
    return ids, lengths, features, tags


def _config(mode, bidirectional, features=True, num_layers=2, **kw):
    sizes, dims = ((7, 4), (2, 3)) if features else ((), ())
    return TaggerConfig(12, 3, 4, 5, mode, num_layers, bidirectional, feature_vocab_sizes=sizes,
                        feature_dims=dims, **kw)


def _loss(model, ids, lengths, features, tags):
    logits, _ = model.forward(ids, lengths, features)
    return softmax_cross_entropy(logits, tags, mask=real_steps(ids.shape[0], lengths, ids.shape[1]))[0]


@pytest.mark.parametrize("features", [True, False])
@pytest.mark.parametrize("mode,bidirectional", [("lstm", True), ("gru", True), ("rnn_tanh", False)])
def test_gradients_match_finite_differences(mode, bidirectional, features):
    rng = np.random.default_rng(5)
    model = Tagger(_config(mode, bidirectional, features, num_layers=1, dtype="float64"), rng)
    for p in model.params.values():                           # no zero rows or biases anywhere
        p += rng.uniform(-0.1, 0.1, p.shape)
    ids, lengths, feats, tags = _data(rng, feature_sizes=(7, 4) if features else ())
    result = model.loss_and_grads(TaggerBatch(ids, lengths, tags, feats))
    grads = result.grads
    assert (result.examples, result.tokens, result.count) == (4, 15, 15)   # a mean per token
    assert set(grads) == set(model.params)
    errors = check_grads(lambda: _loss(model, ids, lengths, feats, tags), model.params, grads)
    assert max(errors.values()) < 1e-6, errors


def test_stacked_with_dropout_gradients_match_finite_differences_with_a_fixed_mask():
    """Two layers (dropout between them), every tensor on 20 random elements."""
    rng = np.random.default_rng(8)
    model = Tagger(_config("lstm", True, dropout=0.3, embedding_dropout=0.3, output_dropout=0.3,
                           dtype="float64"), rng)
    ids, lengths, feats, tags = _data(rng)

    def run():
        model.dropout_rng = np.random.default_rng(1)
        model.rnn.dropout_rng = np.random.default_rng(2)
        return model.forward(ids, lengths, feats, training=True)

    logits, cache = run()
    assert (cache.emb_mask == 0).any() and (cache.out_mask == 0).any()
    mask = real_steps(ids.shape[0], lengths, ids.shape[1])
    _, d = softmax_cross_entropy(logits, tags, mask=mask)
    grads = model.backward(d, cache)
    errors = check_grads(lambda: softmax_cross_entropy(run()[0], tags, mask=mask)[0], model.params, grads,
                         max_elements=20)
    assert max(errors.values()) < 1e-6, errors


def test_padding_does_not_change_real_outputs_or_gradients():
    """A sequence tagged alone or in a padded batch gets the same logits and the same loss terms."""
    rng = np.random.default_rng(3)
    model = Tagger(_config("lstm", True, dtype="float64"), rng)
    ids, lengths, feats, tags = _data(rng)
    logits, _ = model.forward(ids, lengths, feats)
    for b in range(ids.shape[1]):
        n = lengths[b]
        alone, _ = model.forward(ids[:n, b:b + 1], None, feats[:n, b:b + 1])
        np.testing.assert_allclose(alone[:, 0], logits[:n, b], rtol=0, atol=1e-12)
    pred = model.predict(ids, lengths, feats)
    assert (pred[~real_steps(ids.shape[0], lengths, ids.shape[1])] == -1).all()
    np.testing.assert_array_equal(pred[0], logits[0].argmax(1))


class TorchTagger(torch.nn.Module):
    def __init__(self, c: TaggerConfig):
        super().__init__()
        self.embedding = torch.nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.padding_idx)
        self.feature_embeddings = torch.nn.ModuleList(
            torch.nn.Embedding(v, e, padding_idx=c.padding_idx)
            for v, e in zip(c.feature_vocab_sizes, c.feature_dims))
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(c.mode, torch.nn.RNN)
        kw = {} if c.mode in ("lstm", "gru") else {"nonlinearity": c.mode[4:]}
        self.rnn = cls(c.input_size, c.hidden_size, c.num_layers, bidirectional=c.bidirectional, **kw)
        self.fc = torch.nn.Linear((2 if c.bidirectional else 1) * c.hidden_size, c.num_tags)

    def forward(self, ids, lengths, features=None):
        parts = [self.embedding(ids)]
        parts += [table(features[:, :, k]) for k, table in enumerate(self.feature_embeddings)]
        packed = pack_padded_sequence(torch.cat(parts, dim=2), lengths, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, total_length=ids.shape[0])
        return self.fc(out)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("mode,bidirectional", [("lstm", True), ("gru", True), ("rnn_relu", False)])
def test_matches_torch(mode, bidirectional, dtype, tol):
    rng = np.random.default_rng(9)
    c = _config(mode, bidirectional, dtype=dtype)
    model = Tagger(c, rng)
    twin = TorchTagger(c).to(getattr(torch, dtype))
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    ids, lengths, feats, tags = _data(rng)
    loss, grads, *_ = model.loss_and_grads(TaggerBatch(ids, lengths, tags, feats))
    logits, _ = model.forward(ids, lengths, feats)
    logits_t = twin(torch.from_numpy(ids), torch.from_numpy(lengths), torch.from_numpy(feats))
    loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, c.num_tags),
                                               torch.from_numpy(tags).reshape(-1), ignore_index=-100)
    loss_t.backward()
    real = real_steps(ids.shape[0], lengths, ids.shape[1])
    assert rel_error(logits[real], logits_t.detach().numpy()[real]) < tol
    assert abs(loss - loss_t.item()) < tol * max(1, abs(loss))
    assert set(grads) == {name for name, _ in twin.named_parameters()}
    for name, p in twin.named_parameters():
        g = grads[name].to_dense() if hasattr(grads[name], "to_dense") else grads[name]
        assert rel_error(g, p.grad.numpy()) < tol, name


def test_save_load_round_trip(tmp_path):
    from bptt import io
    rng = np.random.default_rng(2)
    model = Tagger(_config("gru", True), rng)
    ids, lengths, feats, _ = _data(rng)
    io.save(model, tmp_path / "m")
    loaded = io.load(tmp_path / "m")
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.forward(ids, lengths, feats)[0], model.forward(ids, lengths, feats)[0])


def test_feature_shape_errors_say_what_was_expected():
    model = Tagger(_config("lstm", True))
    ids = np.ones((3, 2), dtype=np.int64)
    with pytest.raises(ValueError, match=r"features must have shape \(T, B, K\) = \(3, 2, 2\)"):
        model.forward(ids, None, np.ones((3, 2, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="feature_vocab_sizes"):
        TaggerConfig(10, 3, 4, 5, feature_vocab_sizes=(3,), feature_dims=())

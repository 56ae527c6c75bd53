"""Conditional generation: BPTT through the conditioning path (h_0 = tanh(C z + d), and a label
embedding at every step) against finite differences and a PyTorch twin, and a model that learns
to write a different sequence for each label."""
import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bptt import io
from bptt.gradcheck import check_grads, rel_error
from bptt.losses import softmax_cross_entropy
from bptt.models.conditional import ConditionalBatch, ConditionalLanguageModel, ConditionalLMConfig
from bptt.optim import Adam
from bptt.sparse import as_dense

V, E, H, K, Q, L = 9, 3, 4, 3, 2, 2


def _model(mode, condition, rng, **kw):
    model = ConditionalLanguageModel(
        ConditionalLMConfig(V, E, H, K, mode, L, condition, Q, dtype="float64", **kw), rng)
    for p in model.params.values():                   # random, non-zero everything
        p[...] = rng.uniform(-0.6, 0.6, p.shape)
    return model


def _batch(rng, T=6, B=4):
    lengths = np.array([6, 3, 5, 1])[:B]
    ids, targets = rng.integers(1, V, (T, B)), rng.integers(0, V, (T, B))
    padded = np.arange(T)[:, None] >= lengths
    ids[padded] = 0
    return ids, targets, lengths, ~padded


@pytest.mark.parametrize("condition", ["init", "input", "both"])
@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_gradients_through_the_conditioning_path_match_finite_differences(mode, condition):
    rng = np.random.default_rng(0)
    model = _model(mode, condition, rng)
    ids, targets, lengths, mask = _batch(rng)
    z = rng.standard_normal((4, K))                    # any vector, not only one-hot labels
    (logits, _), cache = model.forward(ids, z, lengths)
    _, d_logits = softmax_cross_entropy(logits, targets, mask, reduction="sum")
    grads, dz = model.backward_with_inputs(d_logits, cache)
    f = lambda: softmax_cross_entropy(model.forward(ids, z, lengths)[0].logits, targets, mask, reduction="sum")[0]
    errors = check_grads(f, {**model.params, "z": z}, {**grads, "z": dz})
    assert set(grads) == set(model.params)
    assert ("init.weight" in grads) == (condition != "input") and ("cond.weight" in grads) == (condition != "init")
    assert max(errors.values()) < 1e-6, errors


class TorchConditional(torch.nn.Module):
    def __init__(self, c: ConditionalLMConfig):
        super().__init__()
        self.c = c
        self.embedding = torch.nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.padding_idx)
        In = c.embedding_dim + (c.cond_embedding_dim if c.uses_input else 0)
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(c.mode, torch.nn.RNN)
        self.rnn = cls(In, c.hidden_size, c.num_layers)
        self.fc = torch.nn.Linear(c.hidden_size, c.vocab_size)
        if c.uses_init:
            self.init = torch.nn.Linear(c.cond_size, c.num_layers * c.hidden_size)
        if c.uses_input:
            self.cond = torch.nn.Linear(c.cond_size, c.cond_embedding_dim, bias=False)

    def forward(self, ids, z, lengths):
        T, B = ids.shape
        x = self.embedding(ids)
        if self.c.uses_input:
            x = torch.cat([x, self.cond(z)[None].expand(T, B, -1)], dim=2)
        state = None
        if self.c.uses_init:
            h0 = torch.tanh(self.init(z)).reshape(B, self.c.num_layers, -1).transpose(0, 1).contiguous()
            state = (h0, torch.zeros_like(h0)) if self.c.mode == "lstm" else h0
        out, _ = self.rnn(pack_padded_sequence(x, lengths, enforce_sorted=False), state)
        out, _ = pad_packed_sequence(out, total_length=T)
        return self.fc(out)


@pytest.mark.parametrize("mode,condition", [("lstm", "both"), ("gru", "init"), ("rnn_tanh", "input")])
def test_loss_and_gradients_match_torch_twin(mode, condition):
    rng = np.random.default_rng(1)
    model = _model(mode, condition, rng)
    ids, targets, lengths, mask = _batch(rng)
    labels = np.array([2, 0, 1, 2])
    z = model.labels_to_vectors(labels)
    result = model.loss_and_grads(ConditionalBatch(ids, z, targets, lengths=lengths))
    loss, grads = result.loss, result.grads
    assert (result.examples, result.tokens, result.count) == (4, 15, 15)   # a mean per counted step

    twin = TorchConditional(model.config).double()
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    z_t = torch.from_numpy(z)
    logits_t = twin(torch.from_numpy(ids), z_t, torch.from_numpy(lengths))
    m = torch.from_numpy(mask)
    loss_t = torch.nn.functional.cross_entropy(logits_t[m], torch.from_numpy(targets)[m])
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-10 * loss
    assert set(grads) == {n for n, _ in twin.named_parameters()}
    for name, p in twin.named_parameters():
        assert rel_error(as_dense(grads[name]), p.grad.numpy()) < 1e-10, name


def test_one_label_in_a_whole_sequence_out():
    """Label 0 -> 1 2 3 4 5, label 1 -> 5 4 3 2 1, label 2 -> 3 3 3 3 3 (after the start id 6,
    ending with it): the label reaches the model only through h_0, and greedy decoding from each
    label writes its own sequence."""
    rng = np.random.default_rng(2)
    model = ConditionalLanguageModel(ConditionalLMConfig(7, 4, 12, 3, "gru", condition="init"), rng)
    seqs = np.array([[6, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 6], [6, 3, 3, 3, 3, 3, 6]]).T   # (7, 3)
    z = model.labels_to_vectors([0, 1, 2])
    opt = Adam(model.params, lr=0.03)
    for _ in range(150):
        loss, grads, *_ = model.loss_and_grads(ConditionalBatch(seqs[:-1], z, seqs[1:]))
        opt.step(grads)
    assert loss < 0.05
    for label in range(3):
        got = list(model.generate(z[label], np.array([6]), 6, temperature=0.0))
        assert got == list(seqs[1:, label])


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    model = _model("lstm", "both", rng)
    io.save(model, tmp_path / "m")
    loaded = io.load(tmp_path / "m")
    ids, _, lengths, _ = _batch(rng)
    z = model.labels_to_vectors([0, 1, 2, 1])
    np.testing.assert_array_equal(loaded.forward(ids, z, lengths)[0].logits, model.forward(ids, z, lengths)[0].logits)


def test_bad_conditioning_vector_and_config_are_named():
    model = _model("gru", "init", np.random.default_rng(4))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 3\)"):
        model.forward(np.ones((2, 2), dtype=np.int64), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="condition must be one of"):
        ConditionalLMConfig(V, E, H, K, condition="prefix")

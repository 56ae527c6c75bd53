"""The encoder-decoder: BPTT through decoder and encoder against finite differences (padding in
source and target), the whole model against a PyTorch twin, and decoding (greedy, beam search)."""
import itertools

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bptt.gradcheck import check_grads, rel_error
from bptt.losses import log_softmax, softmax_cross_entropy
from bptt.models.seq2seq import Seq2Seq, Seq2SeqBatch, Seq2SeqConfig, shift_right

SRC_V, TGT_V, EOS = 9, 8, 3


def _data(rng, S=5, T=4, B=4):
    src_lengths = np.array([5, 2, 4, 1])[:B]
    tgt_lengths = np.array([2, 4, 1, 3])[:B]                 # each target ends in <eos>
    src = rng.integers(1, SRC_V, size=(S, B))
    src[np.arange(S)[:, None] >= src_lengths[None, :]] = 0
    tgt = rng.integers(4, TGT_V, size=(T, B))
    tgt[tgt_lengths - 1, np.arange(B)] = EOS
    tgt[np.arange(T)[:, None] >= tgt_lengths[None, :]] = 0
    return src, src_lengths, tgt, tgt_lengths


def _config(mode, bidirectional, dtype="float64", num_layers=1, **kw):
    return Seq2SeqConfig(SRC_V, TGT_V, 3, 2, mode, num_layers, bidirectional, dtype=dtype, **kw)


def _model(config, seed=5):
    rng = np.random.default_rng(seed)
    model = Seq2Seq(config, rng)
    for p in model.params.values():                            # no zero rows or biases anywhere
        p += rng.uniform(-0.1, 0.1, p.shape).astype(p.dtype)
    return model, rng


def _loss(model, src, src_lengths, tgt, tgt_lengths):
    logits, _ = model.forward(src, src_lengths, shift_right(tgt, 2), tgt_lengths)
    mask = np.arange(tgt.shape[0])[:, None] < tgt_lengths[None, :]
    return softmax_cross_entropy(logits, tgt, mask=mask)[0]


# eps = 1e-5: the encoder learns only through the decoder's initial state, and its gradients are
# small (~1e-4 for the stacked model), so the finite differences' round-off, ~1e-16 |L| / eps,
# must stay well below them.
@pytest.mark.parametrize("mode,bidirectional", [("lstm", True), ("lstm", False), ("gru", True),
                                                ("rnn_tanh", False)])
def test_gradients_match_finite_differences(mode, bidirectional):
    model, rng = _model(_config(mode, bidirectional))
    src, sl, tgt, tl = _data(rng)
    result = model.loss_and_grads(Seq2SeqBatch(src, sl, tgt, tl))
    grads = result.grads
    assert (result.examples, result.tokens, result.count) == (4, 12 + 10, 10)   # a mean per target token
    assert set(grads) == set(model.params)
    errors = check_grads(lambda: _loss(model, src, sl, tgt, tl), model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-6, errors
    # the encoder learns only through the decoder's initial state: its gradient must be non-zero
    assert np.abs(grads["encoder.weight_hh_l0"]).max() > 1e-4


def test_stacked_with_dropout_gradients_match_finite_differences_with_a_fixed_mask():
    """Two layers each side (dropout between them), every tensor on 10 random elements."""
    model, rng = _model(_config("lstm", True, num_layers=2, dropout=0.3, embedding_dropout=0.3,
                                output_dropout=0.3))
    src, sl, tgt, tl = _data(rng)

    def run():
        model.dropout_rng = np.random.default_rng(1)
        model.encoder.dropout_rng = np.random.default_rng(2)
        model.decoder.dropout_rng = np.random.default_rng(3)
        return model.forward(src, sl, shift_right(tgt, 2), tl, training=True)

    logits, cache = run()
    assert (cache.src_mask == 0).any() and (cache.out_mask == 0).any()
    mask = np.arange(tgt.shape[0])[:, None] < tl[None, :]
    _, d = softmax_cross_entropy(logits, tgt, mask=mask)
    grads = model.backward(d, cache)
    errors = check_grads(lambda: softmax_cross_entropy(run()[0], tgt, mask=mask)[0], model.params, grads,
                         eps=1e-5, max_elements=10)
    assert max(errors.values()) < 1e-6, errors


class TorchSeq2Seq(torch.nn.Module):
    def __init__(self, c: Seq2SeqConfig):
        super().__init__()
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(c.mode, torch.nn.RNN)
        kw = {} if c.mode in ("lstm", "gru") else {"nonlinearity": c.mode[4:]}
        self.encoder_embedding = torch.nn.Embedding(c.src_vocab_size, c.embedding_dim, padding_idx=c.padding_idx)
        self.encoder = cls(c.embedding_dim, c.hidden_size, c.num_layers, bidirectional=c.bidirectional_encoder, **kw)
        self.decoder_embedding = torch.nn.Embedding(c.tgt_vocab_size, c.embedding_dim, padding_idx=c.padding_idx)
        self.decoder = cls(c.embedding_dim, c.decoder_size, c.num_layers, **kw)
        self.fc = torch.nn.Linear(c.decoder_size, c.tgt_vocab_size)
        self.c = c

    def forward(self, src, src_lengths, tgt_in, tgt_lengths):
        c = self.c
        L, D, H, B = c.num_layers, c.directions, c.hidden_size, src.shape[1]
        packed = pack_padded_sequence(self.encoder_embedding(src), src_lengths, enforce_sorted=False)
        _, h = self.encoder(packed)
        bridge = lambda s: s.reshape(L, D, B, H).permute(0, 2, 1, 3).reshape(L, B, D * H)
        h0 = tuple(map(bridge, h)) if isinstance(h, tuple) else bridge(h)
        packed = pack_padded_sequence(self.decoder_embedding(tgt_in), tgt_lengths, enforce_sorted=False)
        out, _ = self.decoder(packed, h0)
        out, _ = pad_packed_sequence(out, total_length=tgt_in.shape[0])
        return self.fc(out)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("mode,bidirectional", [("lstm", True), ("gru", True), ("rnn_relu", False)])
def test_matches_torch(mode, bidirectional, dtype, tol):
    model, rng = _model(_config(mode, bidirectional, dtype=dtype, num_layers=2), seed=9)
    twin = TorchSeq2Seq(model.config).to(getattr(torch, dtype))
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    src, sl, tgt, tl = _data(rng)
    loss, grads, *_ = model.loss_and_grads(Seq2SeqBatch(src, sl, tgt, tl))
    logits, _ = model.forward(src, sl, shift_right(tgt, 2), tl)
    logits_t = twin(torch.from_numpy(src), torch.from_numpy(sl), torch.from_numpy(shift_right(tgt, 2)),
                    torch.from_numpy(tl))
    target_t = torch.from_numpy(np.where(np.arange(tgt.shape[0])[:, None] < tl[None, :], tgt, -100))
    loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, TGT_V), target_t.reshape(-1))
    loss_t.backward()
    real = np.arange(tgt.shape[0])[:, None] < tl[None, :]
    assert rel_error(logits[real], logits_t.detach().numpy()[real]) < tol
    assert abs(loss - loss_t.item()) < tol * max(1, abs(loss))
    assert set(grads) == {name for name, _ in twin.named_parameters()}
    for name, p in twin.named_parameters():
        g = grads[name].to_dense() if hasattr(grads[name], "to_dense") else grads[name]
        assert rel_error(g, p.grad.numpy()) < tol, name


def _sequence_logprob(model, src, sl, b, tokens, finished=True):
    """log P(tokens [+ <eos>] | source b) by teacher forcing through ``forward``."""
    tgt = np.array(tokens + ([EOS] if finished else []), dtype=np.int64)[:, None]
    logits, _ = model.forward(src[:, b:b + 1], sl[b:b + 1], shift_right(tgt, 2), None)
    logp = log_softmax(logits[:, 0].astype(np.float64))
    return float(logp[np.arange(len(tgt)), tgt[:, 0]].sum())


def _decoding_model(mode, seed=4):
    """A model whose outputs depend on the source: wider, with weights scaled up."""
    model, rng = _model(Seq2SeqConfig(SRC_V, TGT_V, 6, 8, mode, 1, True, dtype="float64"), seed)
    for p in model.params.values():
        p *= 3
    return model, rng


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_beam_1_equals_greedy(mode):
    model, rng = _decoding_model(mode)
    src, sl, _, _ = _data(rng)
    src = np.concatenate([src] * 5, axis=1)
    sl = np.concatenate([sl] * 5)
    src[0] = rng.integers(1, SRC_V, size=src.shape[1])          # 20 different sources
    greedy = model.greedy(src, sl, max_len=6)
    beam = model.beam_search(src, sl, beam=1, max_len=6)
    assert [h.tokens for h in greedy] == [h.tokens for h in beam]
    assert [h.finished for h in greedy] == [h.finished for h in beam]
    np.testing.assert_allclose([h.score for h in greedy], [h.score for h in beam], rtol=1e-10)
    assert len({tuple(h.tokens) for h in greedy}) > 1            # not a degenerate model


def test_hypothesis_scores_are_the_teacher_forced_log_likelihood():
    model, rng = _model(_config("lstm", True))
    src, sl, _, _ = _data(rng)
    for hyps in (model.greedy(src, sl, max_len=5), model.beam_search(src, sl, beam=3, max_len=5)):
        for b, h in enumerate(hyps):
            assert h.score == pytest.approx(_sequence_logprob(model, src, sl, b, h.tokens, h.finished),
                                            rel=1e-10, abs=1e-10)


def test_wide_beam_finds_the_most_probable_output():
    """With a beam wider than every set of prefixes, the search is exhaustive: it must return the
    most probable finished output of all, found here by enumerating every one."""
    model, rng = _model(_config("gru", False))
    model.params["fc.bias"][EOS] += 1.5                         # make short outputs likely
    src, sl, _, _ = _data(rng)
    max_len = 4
    symbols = [1] + list(range(4, TGT_V))                        # every producible non-<eos> token
    for b, h in enumerate(model.beam_search(src, sl, beam=len(symbols) ** (max_len - 1), max_len=max_len)):
        best = max((_sequence_logprob(model, src, sl, b, list(seq)), list(seq))
                   for n in range(max_len) for seq in itertools.product(symbols, repeat=n))
        assert h.finished and h.tokens == best[1]
        assert h.score == pytest.approx(best[0], rel=1e-10)


def test_save_load_round_trip(tmp_path):
    from bptt import io
    model, rng = _model(_config("lstm", True, dtype="float32"))
    src, sl, _, _ = _data(rng)
    io.save(model, tmp_path / "m")
    loaded = io.load(tmp_path / "m")
    assert loaded.config == model.config
    assert loaded.greedy(src, sl, 5) == model.greedy(src, sl, 5)


def test_config_rejects_colliding_special_ids():
    with pytest.raises(ValueError, match="must differ"):
        Seq2SeqConfig(5, 6, 2, 2, bos_id=3, eos_id=3)

"""The many-to-many language model: gradients against finite differences (masks, carried state,
dropout) and against a PyTorch twin (nn.Embedding -> nn.LSTM/GRU/RNN -> nn.Linear ->
cross_entropy), truncated BPTT against torch's detach, one-step sampling, save and load."""
import numpy as np
import pytest
import safetensors.torch
import torch

from bptt import io
from bptt.gradcheck import check_grads, rel_error
from bptt.losses import softmax, softmax_cross_entropy
from bptt.models.language_model import LanguageModel, LanguageModelBatch, LanguageModelConfig, next_token, sample
from bptt.sparse import as_dense
from bptt.state import State
from bptt.truncated import chunk_slices, detach

MODES = ("lstm", "gru", "rnn_tanh")


def _model(mode, rng, V=11, E=3, H=4, L=2, **kw):
    model = LanguageModel(LanguageModelConfig(V, E, H, mode, L, dtype="float64", **kw), rng)
    for p in model.params.values():                   # random, non-zero everything
        p[...] = rng.uniform(-0.6, 0.6, p.shape)
    return model


def _state(model, rng, B):
    """A random State shaped like zero_state(B): h, and c for the LSTM."""
    return model.zero_state(B).map(lambda z: rng.standard_normal(z.shape))


def _as_tuple(s):
    """The arrays of a bptt State, or of torch's h / (h, c)."""
    return s.arrays() if isinstance(s, State) else s if isinstance(s, tuple) else (s,)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_match_finite_differences_with_mask_and_carried_state(mode):
    rng = np.random.default_rng(1)
    model = _model(mode, rng)
    T, B = 6, 3
    ids, targets = rng.integers(1, 11, (T, B)), rng.integers(0, 11, (T, B))
    mask = rng.random((T, B)) < 0.7
    state0 = _state(model, rng, B)
    n = mask.sum()                                   # compare summed losses: larger gradients,
    (logits, _), cache = model.forward(ids, state0)   # the same relative error
    loss, d_logits = softmax_cross_entropy(logits, targets, mask)
    grads, d_state0, _ = model.backward_with_inputs(d_logits * n, cache)
    f = lambda: n * softmax_cross_entropy(model.forward(ids, state0)[0].logits, targets, mask)[0]
    arrays = {**model.params, **{f"state0.{k}": s for k, s in zip("hc", _as_tuple(state0))}}
    analytic = {**grads, **{f"state0.{k}": s for k, s in zip("hc", _as_tuple(d_state0))}}
    errors = check_grads(f, arrays, analytic)
    assert set(grads) == set(model.params)
    assert max(errors.values()) < 1e-6, errors
    result = model.loss_and_grads(LanguageModelBatch(ids, targets, mask, state0))
    assert result.loss == pytest.approx(loss, abs=1e-14)
    assert (result.examples, result.tokens, result.count) == (B, T * B, n)   # a mean per counted step


def test_gradients_with_dropout_and_lengths_match_finite_differences():
    rng = np.random.default_rng(2)
    model = _model("lstm", rng, dropout=0.3, output_dropout=0.4)
    T, B = 5, 3
    ids, targets = rng.integers(1, 11, (T, B)), rng.integers(0, 11, (T, B))
    lengths = np.array([5, 2, 4])
    saved = {k: g.bit_generator.state for k, g in model.generators().items()}

    def run():
        for k, g in model.generators().items():     # the same dropout masks on every call
            g.bit_generator.state = saved[k]
        return model.forward(ids, None, lengths, training=True)

    (logits, _), cache = run()
    mask = np.arange(T)[:, None] < lengths
    _, d_logits = softmax_cross_entropy(logits, targets, mask, reduction="sum")
    grads = model.backward(d_logits, cache)
    errors = check_grads(lambda: softmax_cross_entropy(run()[0].logits, targets, mask, reduction="sum")[0],
                         model.params, grads)
    assert cache.out_mask is not None and max(errors.values()) < 1e-6, errors


class TorchLM(torch.nn.Module):
    """The same model in PyTorch, parameters under the same names."""

    def __init__(self, c: LanguageModelConfig):
        super().__init__()
        self.embedding = torch.nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=c.padding_idx)
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(c.mode, torch.nn.RNN)
        kw = {} if c.mode in ("lstm", "gru") else {"nonlinearity": c.mode[4:]}
        self.rnn = cls(c.embedding_dim, c.hidden_size, c.num_layers, **kw)
        self.fc = torch.nn.Linear(c.hidden_size, c.vocab_size)

    def forward(self, ids, state=None):
        out, state = self.rnn(self.embedding(ids), state)
        return self.fc(out), state


def torch_twin(model: LanguageModel) -> TorchLM:
    twin = TorchLM(model.config).double()
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    return twin


def _torch_state(state):
    s = tuple(torch.tensor(x, requires_grad=True) for x in _as_tuple(state))
    return s if len(s) == 2 else s[0]


@pytest.mark.parametrize("mode", MODES)
def test_loss_and_gradients_match_torch_twin(mode):
    rng = np.random.default_rng(3)
    model = _model(mode, rng, V=13, E=4, H=5)
    T, B = 7, 4
    ids, targets = rng.integers(0, 13, (T, B)), rng.integers(0, 13, (T, B))
    mask = rng.random((T, B)) < 0.8
    state0 = _state(model, rng, B)
    loss, grads, *_, final = model.loss_and_grads(LanguageModelBatch(ids, targets, mask, state0))
    (logits, _), cache = model.forward(ids, state0)
    _, d_state0, _ = model.backward_with_inputs(softmax_cross_entropy(logits, targets, mask)[1], cache)

    twin = torch_twin(model)
    s0 = _torch_state(state0)
    logits_t, final_t = twin(torch.from_numpy(ids), s0)
    m = torch.from_numpy(mask)
    loss_t = torch.nn.functional.cross_entropy(logits_t[m], torch.from_numpy(targets)[m])
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-10 * abs(loss)
    for ours, theirs in zip(_as_tuple(final), _as_tuple(final_t)):
        assert rel_error(ours, theirs.detach().numpy()) < 1e-10
    for ours, theirs in zip(_as_tuple(d_state0), _as_tuple(s0)):
        assert rel_error(ours, theirs.grad.numpy()) < 1e-10
    for name, p in twin.named_parameters():
        assert np.abs(p.grad.numpy()).max() > 0, name
        assert rel_error(as_dense(grads[name]), p.grad.numpy()) < 1e-10, name


@pytest.mark.parametrize("mode", MODES)
def test_truncated_bptt_with_carried_state_matches_torch_detach(mode):
    """Chunks of k steps along B streams, the state carried and detached between chunks, one
    gradient per chunk: the same losses, gradients and carried states as torch."""
    rng = np.random.default_rng(4)
    model = _model(mode, rng)
    twin = torch_twin(model)
    T, B, k = 14, 3, 4
    stream = rng.integers(1, 11, (T + 1, B))
    state, state_t = None, None
    for steps in chunk_slices(T, k):
        x, y = stream[steps], stream[steps.start + 1:steps.stop + 1]
        loss, grads, *_, final = model.loss_and_grads(LanguageModelBatch(x, y, state0=state))
        state = detach(final)
        twin.zero_grad()
        logits_t, state_t = twin(torch.from_numpy(x), state_t)
        loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, 11), torch.from_numpy(y).reshape(-1))
        loss_t.backward()
        state_t = tuple(s.detach() for s in state_t) if isinstance(state_t, tuple) else state_t.detach()
        assert abs(loss - loss_t.item()) < 1e-10 * loss
        for name, p in twin.named_parameters():
            assert rel_error(as_dense(grads[name]), p.grad.numpy()) < 1e-10, (steps, name)
        for ours, theirs in zip(_as_tuple(state), _as_tuple(state_t)):
            assert rel_error(ours, theirs.numpy()) < 1e-10


def test_step_by_step_equals_the_whole_sequence():
    rng = np.random.default_rng(5)
    model = _model("gru", rng)
    ids = rng.integers(1, 11, (6, 2))
    (logits, final), _ = model.forward(ids)
    state = model.zero_state(2)
    for t in range(6):
        step_logits, state = model.step(ids[t], state)
        np.testing.assert_allclose(step_logits, logits[t], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state.h, final.h, rtol=1e-12, atol=1e-12)
    assert state.c is None and final.c is None                   # a GRU state has no c


def test_sampling_is_reproducible_for_a_seed():
    model = _model("lstm", np.random.default_rng(6))
    draw = lambda seed: list(model.generate(np.array([3, 4]), 40, 1.0, rng=np.random.default_rng(seed)))
    a, b, c = draw(7), draw(7), draw(8)
    assert a == b and a != c and len(a) == 40


def test_temperature_zero_and_near_zero_give_the_greedy_argmax():
    model = _model("lstm", np.random.default_rng(9))
    greedy, state = [], model.zero_state(1)
    logits, state = model.step(np.array([3]), state)
    for _ in range(30):                                  # argmax by hand, step by step
        greedy.append(int(np.argmax(logits[0])))
        logits, state = model.step(np.array([greedy[-1]]), state)
    for temperature in (0.0, 1e-8):
        for seed in (0, 1):
            got = list(model.generate(np.array([3]), 30, temperature, rng=np.random.default_rng(seed)))
            assert got == greedy


def test_top_k_never_emits_outside_the_k_largest_logits():
    model = _model("gru", np.random.default_rng(10), V=20)
    seen = []

    def step(ids, state):                                # record every step's logits
        logits, state = model.step(ids, state)
        seen.append(logits[0].copy())
        return logits, state

    out = list(sample(step, model.zero_state(1), np.array([2]), 300, 2.0, 3, np.random.default_rng(0)))
    for logits, token in zip(seen, out):
        assert token in np.argsort(logits)[-3:]
    assert len(set(out)) > 3                             # the top 3 changes from step to step


def test_next_token_draws_in_proportion_to_softmax_and_never_a_banned_id():
    logits = np.array([1.0, 2.0, 0.5, -1.0, 3.0])
    rng = np.random.default_rng(0)
    n = 40000
    counts = np.bincount([next_token(logits, 0.7, rng=rng, banned=[4]) for _ in range(n)], minlength=5)
    z = logits / 0.7
    z[4] = -np.inf
    expected = softmax(z)
    assert counts[4] == 0
    assert np.abs(counts / n - expected).max() < 0.01
    with pytest.raises(ValueError, match="temperature"):
        next_token(logits, -1.0)


def test_save_load_round_trip_and_torch_reads_the_weights(tmp_path):
    rng = np.random.default_rng(11)
    model = _model("lstm", rng)
    io.save(model, tmp_path / "lm")
    loaded = io.load(tmp_path / "lm")
    assert isinstance(loaded, LanguageModel) and loaded.config == model.config
    ids = rng.integers(1, 11, (5, 2))
    np.testing.assert_array_equal(loaded.forward(ids)[0].logits, model.forward(ids)[0].logits)
    twin = TorchLM(model.config).double()
    twin.load_state_dict(safetensors.torch.load_file(str(tmp_path / "lm" / io.WEIGHTS_FILE)))
    logits_t, _ = twin(torch.from_numpy(ids))
    assert rel_error(model.forward(ids)[0].logits, logits_t.detach().numpy()) < 1e-12


def test_side_input_of_the_wrong_shape_is_named():
    model = _model("gru", np.random.default_rng(12), side_input_size=2)
    with pytest.raises(ValueError, match=r"side must have shape \(3, 2\)"):
        model.forward(np.ones((4, 3), dtype=np.int64), side=np.zeros((3, 5)))

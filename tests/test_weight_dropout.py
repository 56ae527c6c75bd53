"""Weight dropout (``weight_dropout``, ``--weight-dropout``): DropConnect on the recurrent weights W.
In training each direction of each layer runs with W~ = W * M (one Bernoulli(1-q)/(1-q) mask per
forward) and dL/dW = dL/dW~ * M; checked against a twin layer that holds W * M, against finite
differences in float64 with the masks fixed, and against PyTorch autograd of W * M."""
import numpy as np
import pytest
import torch

from bptt import Recurrent
from bptt.gradcheck import check_grads, rel_error
from bptt.models import Classifier, ClassifierBatch, ClassifierConfig
from bptt.recurrent import RecurrentConfig
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch_reference import torch_twin

Q = 0.4
T, B, E, H = 5, 3, 4, 6
LENGTHS = np.array([5, 2, 4])


def layer(mode="lstm", q=Q, seed=0, **kw) -> Recurrent:
    cfg = RecurrentConfig(mode, E, H, num_layers=2, bidirectional=True, dtype="float64", weight_dropout=q, **kw)
    return Recurrent(cfg, np.random.default_rng(seed), dropout_seed=7)


def inputs(seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, B, E)), rng.normal(size=(T, B, 2 * H))    # x, the loss's weights R


def masked_twin(net: Recurrent, weight_masks) -> Recurrent:
    """The same layer without weight dropout, holding W * M in every weight_hh."""
    twin = layer(net.config.mode, q=0.0)
    for name, p in net.params.items():
        twin.params[name][...] = p
    for l in range(net.config.num_layers):
        for d in range(2):
            twin.params[f"weight_hh{net._suffix(l, d)}"] *= weight_masks[l][d]
    return twin


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_training_runs_with_w_times_its_mask_and_the_gradient_of_w_is_masked(mode):
    net = layer(mode)
    x, R = inputs()
    out, _, cache = net.forward(x, lengths=LENGTHS, training=True)
    masks = cache.weight_masks
    assert len(masks) == 2 and all(len(m) == 2 for m in masks)
    for m in (m for per_layer in masks for m in per_layer):
        assert m.shape == net.params["weight_hh_l0"].shape
        assert set(np.unique(m)) == {0.0, 1 / (1 - Q)}
    assert not np.array_equal(masks[0][0], masks[0][1])       # a mask per direction and layer
    twin = masked_twin(net, masks)
    twin_out, _, twin_cache = twin.forward(x, lengths=LENGTHS, training=True)
    np.testing.assert_allclose(out, twin_out, rtol=0, atol=1e-13)
    dx, _, grads = net.backward(cache, R)
    twin_dx, _, twin_grads = twin.backward(twin_cache, R)
    np.testing.assert_allclose(dx, twin_dx, rtol=0, atol=1e-13)
    for name, g in grads.items():
        expected = twin_grads[name]
        if name.startswith("weight_hh"):
            l, d = int(name[len("weight_hh_l")]), int(name.endswith("_reverse"))
            expected = expected * masks[l][d]                   # dL/dW = dL/dW~ * M
            assert np.all(g[masks[l][d] == 0] == 0)
        np.testing.assert_allclose(g, expected, rtol=0, atol=1e-13, err_msg=name)


def test_every_gradient_matches_finite_differences_with_the_masks_fixed():
    net = layer("lstm")
    x, R = inputs()
    start = net.dropout_rng.bit_generator.state

    def loss() -> float:
        net.dropout_rng.bit_generator.state = start          # the same masks at every evaluation
        out, _, _ = net.forward(x, lengths=LENGTHS, training=True)
        return float(np.sum(out * R))
    net.dropout_rng.bit_generator.state = start
    _, _, cache = net.forward(x, lengths=LENGTHS, training=True)
    _, _, grads = net.backward(cache, R)
    errors = check_grads(loss, net.params, grads)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_the_output_and_every_gradient_match_pytorch_autograd_of_w_times_m(mode):
    net = layer(mode)
    x, R = inputs()
    out, _, cache = net.forward(x, lengths=LENGTHS, training=True)
    _, _, grads = net.backward(cache, R)
    module = torch_twin(net)
    leaves = dict(module.named_parameters())
    # W~ = W * M as a function of the leaf W, so autograd derives dL/dW = dL/dW~ * M itself
    masked = {name: (p * torch.from_numpy(cache.weight_masks[int(name[len("weight_hh_l")])]
                                          [int(name.endswith("_reverse"))]) if name.startswith("weight_hh") else p)
              for name, p in leaves.items()}
    packed = pack_padded_sequence(torch.from_numpy(x), torch.as_tensor(LENGTHS), enforce_sorted=False)
    t_out, _ = pad_packed_sequence(torch.func.functional_call(module, masked, (packed,))[0], total_length=T)
    np.testing.assert_allclose(t_out.detach().numpy(), out, rtol=0, atol=1e-12)
    (t_out * torch.from_numpy(R)).sum().backward()
    for name, p in leaves.items():
        assert rel_error(grads[name], p.grad.numpy()) < 1e-10, name
        if name.startswith("weight_hh"):
            assert np.abs(p.grad.numpy()).max() > 0, name


def test_inference_uses_w_and_draws_no_mask():
    net, plain = layer("lstm"), layer("lstm", q=0.0)
    x, _ = inputs()
    state = net.dropout_rng.bit_generator.state
    out, _, cache = net.forward(x, lengths=LENGTHS, training=False)
    assert cache.weight_masks is None and net.dropout_rng.bit_generator.state == state
    np.testing.assert_array_equal(out, plain.forward(x, lengths=LENGTHS)[0])


def test_each_training_forward_draws_fresh_masks_of_the_right_density():
    net = Recurrent(RecurrentConfig("lstm", E, 32, dtype="float64", weight_dropout=0.3),
                    np.random.default_rng(0), dropout_seed=1)
    x = np.random.default_rng(2).normal(size=(T, B, E))
    first = net.forward(x, training=True)[2].weight_masks[0][0]
    second = net.forward(x, training=True)[2].weight_masks[0][0]
    assert not np.array_equal(first, second)
    for m in (first, second):                                 # 4,096 entries: the share dropped is 0.3 +- 0.03
        assert abs(np.mean(m == 0) - 0.3) < 0.03


def test_weight_dropout_must_be_a_probability_below_1_and_needs_a_cell_with_w():
    with pytest.raises(ValueError, match="a mingru cell has no W"):
        Recurrent(RecurrentConfig("mingru", E, H, weight_dropout=0.2))
    for q in (-0.1, 1.0):
        with pytest.raises(ValueError, match="weight_dropout must be in"):
            RecurrentConfig("lstm", E, H, weight_dropout=q)
        with pytest.raises(ValueError, match="weight_dropout must be in"):
            ClassifierConfig(10, E, H, weight_dropout=q)


def test_the_classifiers_gradients_with_weight_dropout_match_finite_differences():
    cfg = ClassifierConfig(12, E, H, 2, "lstm", bidirectional=True, pooling="max+mean", dtype="float64",
                           embedding_dropout=0.2, output_dropout=0.2, weight_dropout=Q)
    model = Classifier(cfg, np.random.default_rng(0), dropout_seed=3)
    assert model.rnn.config.weight_dropout == Q
    rng = np.random.default_rng(4)
    batch = ClassifierBatch(rng.integers(1, 12, size=(T, B)), LENGTHS, np.array([0, 1, 1]))
    states = {k: g.bit_generator.state for k, g in model.generators().items()}

    def reset():
        for k, g in model.generators().items():
            g.bit_generator.state = states[k]

    def loss() -> float:
        reset()
        return model.loss_and_grads(batch).loss
    reset()
    result = model.loss_and_grads(batch)
    errors = check_grads(loss, model.params, result.grads)
    assert max(errors.values()) < 1e-7, errors
    reset()
    weight_masks = model.rnn.forward(model.embedding.forward(batch.ids)[0], lengths=LENGTHS,
                                     training=True)[2].weight_masks
    assert weight_masks is not None                          # the classifier's training pass draws them


def _rnns(model):
    """The recurrent layers of a job's model (the conditional LM's sit in its inner LM)."""
    inner = getattr(model, "lm", model)
    return [inner.rnn]


def test_every_job_with_a_recurrent_encoder_trains_with_the_weight_dropout_it_is_given(tmp_path):
    """sentiment, tagger, language model, conditional language model: the setting reaches the
    recurrent layers, survives save and load, and changes training (same seed, other weights)."""
    from bptt.jobs.language_model import LMSettings, TextModel, train_conditional, train_lm
    from bptt.jobs.sentiment import SentimentClassifier, load_sentiment_model
    from bptt.jobs.tagger import SequenceTagger
    from helpers import SMALL_TAGGER, TEXT, toy_sentences

    def trained(q, out):
        texts, labels = ["good fun", "bad film", "great cast", "dull plot"] * 6, ["pos", "neg"] * 12
        clf = SentimentClassifier(epochs=1, weight_dropout=q, hidden_size=4, embedding_dim=3, verbose=0,
                                  dev_fraction=0.25).fit(texts, labels, out_dir=out / "sentiment")
        tagger = SequenceTagger(**{**SMALL_TAGGER, "epochs": 1}, weight_dropout=q).fit(
            toy_sentences(20, 0), toy_sentences(5, 1), out_dir=out / "tagger", progress=False)
        small = dict(embedding_dim=8, hidden_size=12, batch_size=4, seq_len=20, lr=0.01, epochs=1,
                     weight_dropout=q)
        lm = train_lm(TEXT[:400], LMSettings(**small), out_dir=out / "lm", progress=False)
        cond = train_conditional(["a good film .", "a bad film ."] * 4, [1, 0] * 4, ("negative", "positive"),
                                 ["a good film .", "a bad film ."], [1, 0], LMSettings(level="word", **small),
                                 out_dir=out / "cond", progress=False)
        return {"sentiment": (clf.members_[0], load_sentiment_model(str(out / "sentiment" / "best"))[0].members_[0]),
                "tagger": (tagger.model_, SequenceTagger.load(out / "tagger" / "best").model_),
                "lm": (lm.model.model, TextModel.load(out / "lm" / "best").model),
                "conditional": (cond.model.model, TextModel.load(out / "cond" / "best").model)}
    with_q, without = trained(0.3, tmp_path / "q"), trained(0.0, tmp_path / "plain")
    for job, (model, loaded) in with_q.items():
        for rnn in _rnns(model) + _rnns(loaded):
            assert rnn.config.weight_dropout == 0.3, job
        plain = without[job][0]
        assert any(not np.array_equal(p, plain.params[n]) for n, p in model.params.items()), job

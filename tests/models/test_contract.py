"""The contract of ``bptt.models``, for all six models: parameters under their names and shapes,
``loss_and_grads(batch) -> StepResult`` agreeing with ``forward`` + ``backward``, rebuilding from
a config dict, and every generator seeded through the constructor."""
import numpy as np
import pytest

from bptt.jobs.sentiment import SentimentClassifier
from bptt.jobs.tagger import SequenceTagger
from bptt.losses import mse, softmax_cross_entropy
from bptt.models import (MODEL_TYPES, Classifier, ClassifierBatch, ClassifierConfig, ConditionalBatch,
                         ConditionalLanguageModel, ConditionalLMConfig, LanguageModel, LanguageModelBatch,
                         LanguageModelConfig, Regressor, RegressorBatch, RegressorConfig, Seq2Seq,
                         Seq2SeqBatch, Seq2SeqConfig, StepResult, Tagger, TaggerBatch, TaggerConfig)
from bptt.models.seq2seq import shift_right
from bptt.sparse import as_dense
from bptt.state import State
from helpers import toy_sentences

LENGTHS = np.array([4, 2, 3])
IDS = np.array([[1, 2, 3], [4, 5, 6], [7, 0, 1], [2, 0, 0]])        # (T, B), padded with 0
REAL = np.arange(4)[:, None] < LENGTHS


def _cases():
    """(model class, config, batch, d_outputs from the outputs, generator names)."""
    lstm = dict(mode="lstm", num_layers=2, dropout=0.2, dtype="float64")
    return {
        "classifier": (Classifier, ClassifierConfig(8, 3, 4, 3, **lstm),
                       ClassifierBatch(IDS, LENGTHS, np.array([0, 2, 1])),
                       lambda out, b: softmax_cross_entropy(out, b.labels)[1], ["dropout", "rnn.dropout"]),
        "regressor": (Regressor, RegressorConfig(2, 4, 2, **lstm),
                      RegressorBatch(np.linspace(-1, 1, 24).reshape(4, 3, 2), np.ones((3, 2)), LENGTHS),
                      lambda out, b: mse(out, b.targets)[1], ["rnn.dropout"]),
        "tagger": (Tagger, TaggerConfig(8, 3, 4, 5, **lstm), TaggerBatch(IDS, LENGTHS, IDS % 5),
                   lambda out, b: softmax_cross_entropy(out, b.tags, REAL)[1], ["dropout", "rnn.dropout"]),
        "language_model": (LanguageModel, LanguageModelConfig(8, 3, 4, **lstm),
                           LanguageModelBatch(IDS, (IDS + 1) % 8, lengths=LENGTHS),
                           lambda out, b: softmax_cross_entropy(out.logits, b.targets, REAL)[1],
                           ["dropout", "rnn.dropout"]),
        "conditional": (ConditionalLanguageModel, ConditionalLMConfig(8, 3, 4, 2, condition="both", **lstm),
                        ConditionalBatch(IDS, np.eye(2)[[0, 1, 1]], (IDS + 1) % 8, lengths=LENGTHS),
                        lambda out, b: softmax_cross_entropy(out.logits, b.targets, REAL)[1],
                        ["dropout", "rnn.dropout"]),
        "seq2seq": (Seq2Seq, Seq2SeqConfig(8, 8, 3, 4, bidirectional_encoder=True, **lstm),
                    Seq2SeqBatch(IDS, LENGTHS, np.where(REAL, 4 + IDS % 4, 0), LENGTHS),
                    lambda out, b: softmax_cross_entropy(out, b.tgt, REAL)[1],
                    ["dropout", "encoder.dropout", "decoder.dropout"]),
    }


def _forward(model, b):
    if isinstance(model, Classifier):
        return model.forward(b.ids, b.lengths)
    if isinstance(model, Regressor):
        return model.forward(b.x, b.lengths)
    if isinstance(model, Tagger):
        return model.forward(b.ids, b.lengths)
    if isinstance(model, LanguageModel):
        return model.forward(b.ids, None, b.lengths)
    if isinstance(model, ConditionalLanguageModel):
        return model.forward(b.ids, b.z, b.lengths)
    return model.forward(b.src, b.src_lengths, shift_right(b.tgt, model.config.bos_id), b.tgt_lengths)


@pytest.mark.parametrize("name", list(_cases()))
def test_loss_and_grads_is_forward_then_backward_under_the_parameter_names(name):
    cls, config, batch, d_outputs, _ = _cases()[name]
    model = cls(config, np.random.default_rng(0))
    for p in model.params.values():                                 # random, non-zero everything
        p[...] = np.random.default_rng(1).uniform(-0.5, 0.5, p.shape)
    result = model.loss_and_grads(batch, training=False)
    assert isinstance(result, StepResult) and result.examples == 3
    assert {n: np.shape(g) for n, g in result.grads.items()} == model.param_shapes()
    outputs, cache = _forward(model, batch)
    grads = model.backward(d_outputs(outputs, batch), cache)
    assert set(grads) == set(model.params)
    for n, g in grads.items():
        np.testing.assert_array_equal(as_dense(result.grads[n]), as_dense(g), err_msg=n)
    assert isinstance(result.state, State) == isinstance(model, (LanguageModel, ConditionalLanguageModel))


@pytest.mark.parametrize("name", list(_cases()))
def test_a_model_rebuilds_from_its_config_dict_and_is_registered(name):
    cls, config, *_ = _cases()[name]
    model = cls(config, np.random.default_rng(3))
    again = cls.from_config(model.config.to_dict(), np.random.default_rng(3))
    assert again.config == model.config and MODEL_TYPES[cls.__name__] is cls
    for n, p in model.params.items():
        np.testing.assert_array_equal(again.params[n], p, err_msg=n)


@pytest.mark.parametrize("name", list(_cases()))
def test_every_generator_is_seeded_through_the_constructor(name):
    """Generator k of generators() is seeded dropout_seed + k."""
    cls, config, _, _, names = _cases()[name]
    model = cls(config, np.random.default_rng(0), dropout_seed=7)
    gens = model.generators()
    assert list(gens) == names
    for k, g in enumerate(gens.values()):
        assert g.bit_generator.state == np.random.default_rng(7 + k).bit_generator.state, list(gens)[k]


def test_the_jobs_seed_the_recurrent_dropout_as_before():
    """seed s: the model's own masks from s + 1, the recurrent layers' from s + 2 (what the
    sentiment and tagging jobs set by hand before the seeds went through the constructor)."""
    clf = SentimentClassifier(seed=3)
    clf._build(["a b", "b c"], ("negative", "positive"))
    tagger = SequenceTagger(seed=3)
    tagger._build(toy_sentences(3, 0))
    for model in (clf.model_, tagger.model_):
        assert model.dropout_rng.bit_generator.state == np.random.default_rng(4).bit_generator.state
        assert model.rnn.dropout_rng.bit_generator.state == np.random.default_rng(5).bit_generator.state

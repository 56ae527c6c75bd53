"""Models, one file per topology, and the one contract they all follow.

    classifier.py       Classifier                  many-to-one: a label per sequence
    regressor.py        Regressor                   many-to-one: a vector per sequence (MSE)
    tagger.py           Tagger                      many-to-many, aligned: a label per token
    language_model.py   LanguageModel               many-to-many: the next token at every step
    conditional.py      ConditionalLanguageModel    one-to-many: a sequence from one vector
    seq2seq.py          Seq2Seq                     encoder-decoder: a sequence from a sequence

The contract
------------
Every model ``M`` (``M(config, rng=None, dropout_seed=0)``, ``M.from_config(dict)``) has:

``params``
    {name: array}, flat, with the names of the same PyTorch module's ``state_dict``
    (``embedding.weight``, ``rnn.weight_ih_l0``, ``fc.bias``, ...); the arrays are the layers'
    own, so an optimizer or ``bptt.io.load_state_dict`` that writes into them updates the model.
    ``param_shapes()`` gives their shapes, ``config.to_dict()`` the config, ``generators()``
    every random generator by name (for exact resume).

``forward(inputs..., training=False) -> (outputs, cache)``
    outputs: Classifier logits (B, C), Regressor predictions (B, O), Tagger and Seq2Seq logits
    (T, B, C); the language models a ``LanguageModelOutput(logits (T, B, N), state)``, the final
    recurrent state beside the logits. The cache is a named tuple holding what backward needs.

``backward(d_outputs, cache) -> grads``
    d_outputs: dL/d logits (or predictions), shaped like them. grads: {name: array} with the
    names and shapes of ``params`` (an embedding's gradient may be ``SparseRows``). Where another
    model needs the gradients of a model's inputs as well, it calls the documented
    ``backward_with_inputs``: ``LanguageModel`` -> ``LanguageModelGrads(params, state0, side)``,
    ``ConditionalLanguageModel`` -> ``ConditionalGrads(params, z)``.

``loss_and_grads(batch, training=True) -> StepResult(loss, grads, examples, tokens, count, state)``
    batch: the model's ``...Batch`` named tuple, or any object with its fields (the jobs' batches
    have them). ``loss`` is the mean of ``count`` terms, which ``bptt.train`` uses to weight the
    epoch's mean, ``sum(loss * count) / sum(count)``:

    =========================  ====================================  ======================
    model                      loss                                   count
    =========================  ====================================  ======================
    Classifier                 cross-entropy per example              examples (B)
    Regressor                  squared error per example (over O)     examples (B)
    Tagger                     cross-entropy per real token           tokens, sum_b len_b
    LanguageModel              cross-entropy per counted step         the mask's steps
    ConditionalLanguageModel   cross-entropy per counted step         the mask's steps
    Seq2Seq                    cross-entropy per real target step     sum_b (n_b + 1)
    =========================  ====================================  ======================

    ``examples`` is B, ``tokens`` the real time steps read (source and target for Seq2Seq: the
    throughput), ``state`` the final recurrent state for the language models (truncated BPTT
    carries it to the next chunk), else None.

A recurrent state is a ``bptt.state.State(h, c=None)``: h, and c for the LSTM only, each
(layers * directions, B, H). It unpacks as ``h, c``.

Seeds: ``rng`` draws every weight, in the order the layers are built; generator k of
``generators()`` (the model's own dropout masks first, if it has any, then each recurrent
layer's) is seeded ``dropout_seed + k``. Nothing outside a model reassigns its generators.

The preamble every model shares (``from_config``, ``param_shapes``, ``generators``, dropout,
gathering the layers' parameters) is ``_compose.Composed``, with the small functions beside it.

The registry
------------
``MODEL_TYPES`` maps the "type" stored in a saved config.json to its class; ``bptt.io.load``
reads it, and nothing in ``models/`` imports ``bptt.io``.
"""
from ..recurrent import Recurrent
from ._compose import StepResult
from .classifier import Classifier, ClassifierBatch, ClassifierConfig
from .conditional import ConditionalBatch, ConditionalLanguageModel, ConditionalLMConfig
from .language_model import LanguageModel, LanguageModelBatch, LanguageModelConfig
from .regressor import Regressor, RegressorBatch, RegressorConfig
from .seq2seq import Seq2Seq, Seq2SeqBatch, Seq2SeqConfig
from .tagger import Tagger, TaggerBatch, TaggerConfig

__all__ = ["Classifier", "ClassifierBatch", "ClassifierConfig", "LanguageModel", "LanguageModelBatch",
           "LanguageModelConfig", "ConditionalLanguageModel", "ConditionalBatch", "ConditionalLMConfig",
           "Regressor", "RegressorBatch", "RegressorConfig", "Seq2Seq", "Seq2SeqBatch", "Seq2SeqConfig",
           "Tagger", "TaggerBatch", "TaggerConfig", "StepResult", "MODEL_TYPES", "register_model_type",
           "model_type_name"]

MODEL_TYPES: dict[str, type] = {}


def model_type_name(model) -> str:
    """The name stored in config.json: the class's ``type_name`` if set, else its class name."""
    cls = type(model)
    return getattr(cls, "type_name", cls.__name__)


def register_model_type(name: str, cls: type) -> type:
    """Make ``bptt.io.load`` build ``cls`` (via ``cls.from_config(dict)``) for config type ``name``.

    A class needs ``from_config(dict)``, ``config.to_dict()``, ``params`` and ``param_shapes()``.
    """
    known = MODEL_TYPES.get(name)
    if known is not None and known is not cls:
        raise ValueError(f"model type {name!r} is already registered to {known.__qualname__}")
    MODEL_TYPES[name] = cls
    return cls


for _cls in (Recurrent, Classifier, LanguageModel, ConditionalLanguageModel, Regressor, Tagger, Seq2Seq):
    register_model_type(_cls.__name__, _cls)
del _cls

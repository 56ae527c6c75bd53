"""What the six models share, written once: the step result, the preamble of a model composed
of named layers, dropout masks, real-step masks, and the top layer's final state.

See ``bptt.models`` for the contract these pieces serve.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import NamedTuple

import numpy as np

from ..recurrent import Recurrent, RecurrentConfig
from ..state import State


class StepResult(NamedTuple):
    """What ``loss_and_grads(batch)`` returns; the trainer needs nothing else from a step."""
    loss: float                     # the batch's mean loss: the sum of its ``count`` terms / count
    grads: dict[str, np.ndarray]    # d loss / d parameter, every parameter, the ``params`` names
    examples: int                   # B, the sequences in the batch
    tokens: int                     # real (unpadded) time steps read, source and target (throughput)
    count: int                      # the terms ``loss`` averages: B, or the predicted tokens
    state: State | None = None      # the final recurrent state (LanguageModel: carried on), else None


class ModelConfig:
    """A model config (a frozen dataclass) as the JSON-able dict that ``from_config`` takes back."""

    def to_dict(self) -> dict:
        return asdict(self)


class Composed:
    """The preamble of a model built from named layers (``Embedding``, ``Recurrent``, ``Dense``).

    A model sets ``config_class`` (its config dataclass); its ``__init__`` starts with
    ``rng = self._begin(config, rng, dropout_seed)``, builds its layers from that one weight
    generator in a fixed order, and ends with ``self._compose((name, layer), ...)`` under the
    PyTorch submodule names. ``dropout_rng`` draws the model's own dropout masks (None: it has
    none); each recurrent layer draws its masks from its own generator.
    """

    config_class: type
    dropout_rng: np.random.Generator | None = None

    def _begin(self, config, rng: np.random.Generator | None,
               dropout_seed: int | None) -> np.random.Generator:
        """Keep ``config`` (and its ``dtype``), seed the model's own dropout generator with
        ``dropout_seed`` (None: none), and return the weight generator: ``rng``, or one seeded 0."""
        self.config = config
        self.dtype = np.dtype(config.dtype)
        if dropout_seed is not None:
            self.dropout_rng = np.random.default_rng(dropout_seed)
        return np.random.default_rng(0) if rng is None else rng

    def _compose(self, *named_layers) -> None:
        """Keep the (name, layer) pairs and gather their parameters into ``self.params``."""
        self.named_layers = named_layers
        self.params = flat_params(named_layers)

    @classmethod
    def from_config(cls, config: dict, rng: np.random.Generator | None = None):
        """Build from ``config.to_dict()`` output (e.g. a saved JSON config)."""
        return cls(cls.config_class(**config), rng)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: p.shape for name, p in self.params.items()}

    def generators(self) -> dict[str, np.random.Generator]:
        """Every random generator the model draws from, by name (saved in checkpoints for exact
        resume): ``dropout`` (its own masks), then ``<layer>.dropout`` of each recurrent layer."""
        own = {} if self.dropout_rng is None else {"dropout": self.dropout_rng}
        return {**own, **{f"{prefix}.{name}": g for prefix, layer in self.named_layers
                          if isinstance(layer, Recurrent) for name, g in layer.generators().items()}}

    def _dropout(self, x: np.ndarray, p: float, training: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """(x * mask, mask) with an inverted-dropout mask of x's shape from ``dropout_rng``, or
        (x, None) when off. The backward pass multiplies the gradient by the same mask."""
        mask = dropout_mask(self.dropout_rng, x.shape, p, self.config.dtype, training)
        return (x, None) if mask is None else (x * mask, mask)


def recurrent(config, input_size: int, rng: np.random.Generator, dropout_seed: int,
              hidden_size: int | None = None, bidirectional: bool = False) -> Recurrent:
    """The recurrent layers of a model config: its mode, num_layers, dropout, dtype and
    weight_dropout (a config without that field: none), and
    ``hidden_size`` (default: the config's) units per direction; masks seeded ``dropout_seed``."""
    return Recurrent(RecurrentConfig(config.mode, input_size, hidden_size or config.hidden_size,
                                     config.num_layers, bidirectional, config.dropout, dtype=config.dtype,
                                     weight_dropout=getattr(config, "weight_dropout", 0.0)),
                     rng, dropout_seed)


def check_fractions(config, names) -> None:
    """Every field in ``names`` (dropout probabilities) must lie in [0, 1)."""
    for name in names:
        if not 0.0 <= getattr(config, name) < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {getattr(config, name)}")


def flat_params(named_layers) -> dict[str, np.ndarray]:
    """{"<prefix>.<name>": array} over (prefix, layer) pairs; the arrays are the layers' own, so
    an optimizer updating the mapping in place updates the layers."""
    return {f"{prefix}.{name}": p for prefix, layer in named_layers for name, p in layer.params.items()}


def prefixed(prefix: str, grads: dict) -> dict:
    """A layer's gradients under the model's names."""
    return {f"{prefix}.{name}": g for name, g in grads.items()}


def named_grads(*named) -> dict[str, np.ndarray]:
    """The layers' gradients under the model's names, in the order given: (prefix, grads), ..."""
    return {f"{prefix}.{name}": g for prefix, grads in named for name, g in grads.items()}


def masked(d: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """A gradient through a dropout mask: d * mask, or d if there was none."""
    return d if mask is None else d * mask


def dropout_mask(rng: np.random.Generator, shape, p: float, dtype, training: bool) -> np.ndarray | None:
    """Inverted dropout: keep with probability 1-p and scale by 1/(1-p); None if off.

    The mask multiplies the activations in the forward pass and their gradient in the backward.
    """
    if not training or p == 0.0:
        return None
    dtype = np.dtype(dtype)
    return (rng.random(shape) >= p).astype(dtype) / dtype.type(1.0 - p)


def real_steps(T: int, lengths: np.ndarray | None, B: int) -> np.ndarray:
    """(T, B) bool: True where t < lengths[b], the steps that hold real tokens."""
    if lengths is None:
        return np.ones((T, B), dtype=bool)
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]


def top_final(final: State, D: int) -> np.ndarray:
    """The top layer's final h, directions side by side: (L*D, B, H) -> (B, D*H).

    Bidirectional: [forward h at each last real step ; backward h at step 1] (``h_n[-2:]``).
    """
    return np.concatenate(list(final.h[-D:]), axis=1)


def top_final_grad(ds: np.ndarray, L: int, D: int) -> State:
    """The gradient through ``top_final``: ds (B, D*H) -> d final State, zero below the top layer
    and for the LSTM's c (``Recurrent.backward`` reads a missing c as zero)."""
    B, H = ds.shape[0], ds.shape[1] // D
    d_h = np.zeros((L * D, B, H), dtype=ds.dtype)
    for d in range(D):
        d_h[(L - 1) * D + d] = ds[:, d * H:(d + 1) * H]
    return State(d_h)

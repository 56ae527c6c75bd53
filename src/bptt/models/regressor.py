r"""Many-to-one regression: a sequence of vectors in, one real vector out (e.g. the adding problem).

    h_t  = RNN / LSTM / GRU(x_t, h_{t-1})         (T, B, D*H)  all layers, real steps only
    s    = h_n of the top layer                   (B, D*H)     bidirectional: [forward h_len ;
                                                               backward h_1] (PyTorch's h_n[-2:])
    y    = V s + c                                (B, O)
    loss = mean over (B, O) of (y - target)^2     (``bptt.losses.mse``)

The loss reaches the recurrent layer only through its final state, so dL/dh_t at every earlier
step is exactly (dh_n/dh_t)^T dL/dh_n: the product of Jacobians of docs/math.md section 4, with
nothing added on the way. That is what makes this model the cleanest probe of vanishing and
exploding gradients (``bptt.diagnostics``).

Parameters are those of a PyTorch module with submodules ``rnn`` (nn.RNN / LSTM / GRU) and ``fc``
(nn.Linear): ``rnn.weight_ih_l0``, ``rnn.weight_hh_l0``, ..., ``fc.weight`` (O, D*H), ``fc.bias``.
``init``, ``init_gain`` and ``forget_bias`` choose the recurrent initialisation (``bptt.init``);
the defaults are PyTorch's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._compose import Composed, ModelConfig, StepResult, named_grads, recurrent, top_final, top_final_grad
from ..init import INITS, apply_init
from ..layers import Dense
from ..losses import mse


@dataclass(frozen=True)
class RegressorConfig(ModelConfig):
    input_size: int
    hidden_size: int
    output_size: int = 1
    mode: str = "lstm"              # rnn_tanh | rnn_relu | rnn_sigmoid | lstm | gru
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0            # between recurrent layers
    init: str = "default"           # default | orthogonal | identity (bptt.init.INITS)
    init_gain: float = 1.0
    forget_bias: float | None = None  # LSTM forget-gate bias; None keeps PyTorch's init
    dtype: str = "float32"

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.forget_bias is not None and self.mode != "lstm":
            raise ValueError(f"forget_bias applies to mode 'lstm' only, got mode {self.mode!r}")
        if not isinstance(self.output_size, (int, np.integer)) or self.output_size < 1:
            raise ValueError(f"output_size must be a positive integer, got {self.output_size!r}")


class RegressorCache(NamedTuple):
    rnn: tuple                      # Recurrent cache
    fc: tuple                       # Dense cache
    batch: int                      # B


class RegressorBatch(NamedTuple):
    """What ``loss_and_grads`` reads."""
    x: np.ndarray                   # (T, B, E) input vectors
    targets: np.ndarray             # (B, O)
    lengths: np.ndarray | None = None   # (B,) real lengths (None: all T)


class Regressor(Composed):
    """Recurrent layers -> final state of the top layer -> dense; trained with MSE.

    ``rng`` draws the weights; ``dropout_seed`` seeds the dropout masks between the recurrent
    layers (the model has no dropout of its own).
    """

    config_class = RegressorConfig

    def __init__(self, config: RegressorConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        rng = self._begin(config, rng, None)
        c = config
        self.rnn = recurrent(c, c.input_size, rng, dropout_seed, bidirectional=c.bidirectional)
        apply_init(self.rnn, c.init, c.init_gain, c.forget_bias, rng)
        D = 2 if c.bidirectional else 1
        self.fc = Dense(D * c.hidden_size, c.output_size, dtype=self.dtype, rng=rng)
        self._compose(("rnn", self.rnn), ("fc", self.fc))

    # ---- forward / backward ---------------------------------------------------------------
    def forward(self, x: np.ndarray, lengths: np.ndarray | None = None,
                training: bool = False) -> tuple[np.ndarray, RegressorCache]:
        """x (T, B, E); lengths (B,) or None (all T). Returns (prediction (B, O), cache)."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"x must be 3-D (T, B, E), got shape {x.shape}")
        _, final, rnn_cache = self.rnn.forward(x, lengths=lengths, training=training)
        s = top_final(final, self.rnn.config.directions)                 # (B, D*H)
        pred, fc_cache = self.fc.forward(s)                              # (B, O)
        return pred, RegressorCache(rnn_cache, fc_cache, x.shape[1])

    def backward(self, d_pred: np.ndarray, cache: RegressorCache) -> dict[str, np.ndarray]:
        """Gradients of every parameter (flat names) given dL/dprediction (B, O)."""
        ds, fc_grads = self.fc.backward(d_pred, cache.fc)                # (B, D*H)
        c = self.rnn.config
        d_final = top_final_grad(ds, c.num_layers, c.directions)         # only the top layer's
        _, _, rnn_grads = self.rnn.backward(cache.rnn, None, d_final)    # final states are read
        return named_grads(("rnn", rnn_grads), ("fc", fc_grads))

    def loss_and_grads(self, batch: RegressorBatch, training: bool = True) -> StepResult:
        """Mean squared error against ``batch.targets`` (B, O), and its gradients.

        StepResult counts: examples = count = B (the mean over (B, O) is a mean per example of
        the per-example mean over O), tokens = the real steps read.
        """
        pred, cache = self.forward(batch.x, batch.lengths, training=training)
        targets = np.asarray(batch.targets, dtype=pred.dtype)
        if targets.shape != pred.shape:
            raise ValueError(f"targets must have shape {pred.shape} (B, output_size), got {targets.shape}")
        loss, d_pred = mse(pred, targets)
        B = cache.batch
        tokens = int(np.sum(batch.lengths)) if batch.lengths is not None else B * np.shape(batch.x)[0]
        return StepResult(loss, self.backward(d_pred, cache), B, tokens, B)

    def predict(self, x, lengths=None) -> np.ndarray:
        """Predictions (B, O), no cache kept."""
        return self.forward(x, lengths, training=False)[0]

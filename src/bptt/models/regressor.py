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

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._compose import flat_params, prefixed
from ..init import INITS, apply_init
from ..layers import Dense
from ..losses import mse
from ..recurrent import Recurrent, RecurrentConfig


@dataclass(frozen=True)
class RegressorConfig:
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

    def to_dict(self) -> dict:
        return asdict(self)


class RegressorCache(NamedTuple):
    rnn: tuple                      # Recurrent cache
    fc: tuple                       # Dense cache
    batch: int                      # B


class Regressor:
    """Recurrent layers -> final state of the top layer -> dense; trained with MSE."""

    type_name = "Regressor"

    def __init__(self, config: RegressorConfig, rng: np.random.Generator | None = None):
        rng = np.random.default_rng(0) if rng is None else rng
        c = self.config = config
        self.rnn = Recurrent(RecurrentConfig(c.mode, c.input_size, c.hidden_size, c.num_layers,
                                             c.bidirectional, c.dropout, dtype=c.dtype), rng)
        apply_init(self.rnn, c.init, c.init_gain, c.forget_bias, rng)
        D = 2 if c.bidirectional else 1
        self.fc = Dense(D * c.hidden_size, c.output_size, dtype=np.dtype(c.dtype), rng=rng)
        self.params = flat_params((("rnn", self.rnn), ("fc", self.fc)))

    @classmethod
    def from_config(cls, config: dict, rng: np.random.Generator | None = None) -> "Regressor":
        return cls(RegressorConfig(**config), rng)

    def generators(self) -> dict[str, np.random.Generator]:
        """The random generators the model draws from (saved in checkpoints for exact resume)."""
        return prefixed("rnn", self.rnn.generators())

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: p.shape for name, p in self.params.items()}

    # ---- forward / backward ---------------------------------------------------------------
    def forward(self, x: np.ndarray, lengths: np.ndarray | None = None,
                training: bool = False) -> tuple[np.ndarray, RegressorCache]:
        """x (T, B, E); lengths (B,) or None (all T). Returns (prediction (B, O), cache)."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"x must be 3-D (T, B, E), got shape {x.shape}")
        _, final, rnn_cache = self.rnn.forward(x, lengths=lengths, training=training)
        h_n = final[0] if isinstance(final, tuple) else final            # (L*D, B, H)
        D = self.rnn.config.directions
        s = np.concatenate(list(h_n[-D:]), axis=1)                       # (B, D*H)
        pred, fc_cache = self.fc.forward(s)                              # (B, O)
        return pred, RegressorCache(rnn_cache, fc_cache, x.shape[1])

    def backward(self, d_pred: np.ndarray, cache: RegressorCache) -> dict[str, np.ndarray]:
        """Gradients of every parameter (flat names) given dL/dprediction (B, O)."""
        ds, fc_grads = self.fc.backward(d_pred, cache.fc)                # (B, D*H)
        c = self.rnn.config
        D, H, L = c.directions, c.hidden_size, c.num_layers
        d_h = np.zeros((L * D, cache.batch, H), dtype=ds.dtype)          # only the top layer's
        for d in range(D):                                               # final states are read
            d_h[(L - 1) * D + d] = ds[:, d * H:(d + 1) * H]
        d_final = (d_h, np.zeros_like(d_h)) if c.mode == "lstm" else d_h
        _, _, rnn_grads = self.rnn.backward(cache.rnn, None, d_final)
        grads = prefixed("rnn", rnn_grads)
        grads.update({f"fc.{n}": g for n, g in fc_grads.items()})
        return grads

    def loss_and_grads(self, x, targets, lengths=None, training: bool = True
                       ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Mean squared error against ``targets`` (B, O), its gradients, and the predictions."""
        pred, cache = self.forward(x, lengths, training=training)
        targets = np.asarray(targets, dtype=pred.dtype)
        if targets.shape != pred.shape:
            raise ValueError(f"targets must have shape {pred.shape} (B, output_size), got {targets.shape}")
        loss, d_pred = mse(pred, targets)
        return loss, self.backward(d_pred, cache), pred

    def predict(self, x, lengths=None) -> np.ndarray:
        """Predictions (B, O), no cache kept."""
        return self.forward(x, lengths, training=False)[0]

    # ---- files ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """``bptt.io.save``: config.json + model.safetensors."""
        from .. import io
        return io.save(self, directory)

    @classmethod
    def load(cls, directory: str | Path) -> "Regressor":
        from .. import io
        return io.load_as(directory, Regressor)

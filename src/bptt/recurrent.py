r"""Recurrent layers: RNN, LSTM and GRU over batches of sequences, stacked and bidirectional.

Shapes (PyTorch's): input x (T, B, E), or (B, T, E) with ``batch_first``; output
(T, B, D*H) with D = 2 if bidirectional else 1 (zero at padded steps); states h_0, h_n (and
c_0, c_n for the LSTM) of shape (L*D, B, H) with L = ``num_layers``, index ``l*D + d``. A state
goes in as a ``bptt.state.State`` (or h, or (h, c)) and comes out as a ``State(h, c)``, c None
for RNN and GRU; it unpacks as ``h, c``.

Parameters use PyTorch's names, so weights move between the two without renaming::

    weight_ih_l{l}{sfx}  (G*H, In)   U, input -> hidden; In = E for l = 0, D*H above
    weight_hh_l{l}{sfx}  (G*H, H)    W, hidden -> hidden, shared by every step
    bias_ih_l{l}{sfx}    (G*H,)      b = bias_ih + bias_hh (except the GRU's n block, where
    bias_hh_l{l}{sfx}    (G*H,)      b_hn sits inside the reset product: see cells/gru.py)

with sfx = "" forward, "_reverse" backward direction and G = 1 (RNN), 4 (LSTM rows i, f, g, o),
3 (GRU rows r, z, n). All are initialised U(-1/sqrt(H), 1/sqrt(H)) like PyTorch.

Layer l > 0 reads the concatenated outputs of layer l-1; with ``dropout`` p > 0 and
``training=True`` that input is multiplied by a mask of Bernoulli(1-p)/(1-p) drawn from the
layer's seeded generator (never after the last layer, as in PyTorch).

Usage::

    lstm = LSTM(64, 128, num_layers=2, bidirectional=True)
    out, (h_n, c_n), cache = lstm.forward(x, lengths=lengths, training=True)
    dx, (dh_0, dc_0), grads = lstm.backward(cache, d_out, (dh_n, dc_n))
    out, (h_n, _), cache = gru.forward(x)                  # State(h_n, None)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .cells import MODES, get_cell
from .sequence import Packing, direction_backward, direction_forward, pack
from .state import State


@dataclass(frozen=True)
class RecurrentConfig:
    mode: str                   # "rnn_tanh" | "rnn_relu" | "rnn_sigmoid" | "lstm" | "gru"
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    batch_first: bool = False
    dtype: str = "float32"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for field in ("input_size", "hidden_size", "num_layers"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


class RecurrentCache(NamedTuple):
    packing: Packing
    layers: list                # per layer: list of DirectionCache, one per direction
    masks: list                 # per layer: dropout mask (T, B, In) applied to its input, or None
    batch_first: bool


class Recurrent:
    """A stack of recurrent layers; see the module docstring. ``RNN``, ``LSTM``, ``GRU`` build it."""

    def __init__(self, config: RecurrentConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        self.config = config
        self.cell = get_cell(config.mode)
        self.dtype = np.dtype(config.dtype)
        self.dropout_rng = np.random.default_rng(dropout_seed)
        rng = np.random.default_rng(0) if rng is None else rng
        k = 1.0 / np.sqrt(config.hidden_size)
        self.params = {name: rng.uniform(-k, k, size=shape).astype(self.dtype)
                       for name, shape in self.param_shapes().items()}

    @classmethod
    def from_config(cls, config: dict, rng: np.random.Generator | None = None) -> "Recurrent":
        """Build from ``config.to_dict()`` output (e.g. a saved JSON config)."""
        return cls(RecurrentConfig(**config), rng)

    def generators(self) -> dict[str, np.random.Generator]:
        """The random generators the layer draws from (saved in checkpoints for exact resume)."""
        return {"dropout": self.dropout_rng}

    # ---- parameters -------------------------------------------------------------------
    def _suffix(self, layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        c = self.config
        G, H = self.cell.gates * c.hidden_size, c.hidden_size
        shapes = {}
        for layer in range(c.num_layers):
            In = c.input_size if layer == 0 else c.directions * H
            for d in range(c.directions):
                s = self._suffix(layer, d)
                shapes[f"weight_ih{s}"] = (G, In)
                shapes[f"weight_hh{s}"] = (G, H)
                shapes[f"bias_ih{s}"] = (G,)
                shapes[f"bias_hh{s}"] = (G,)
        return shapes

    def _direction_params(self, layer: int, d: int) -> tuple[np.ndarray, ...]:
        s = self._suffix(layer, d)
        p = self.params
        return p[f"weight_ih{s}"], p[f"weight_hh{s}"], p[f"bias_ih{s}"], p[f"bias_hh{s}"]

    # ---- states ---------------------------------------------------------------------------
    def _states_in(self, state, B: int, packing: Packing, what: str) -> list[np.ndarray]:
        """A user state (``State``, or h, or (h, c)), each (L*D, B, H), as packed arrays; a
        missing state, or an LSTM's missing c, is zero."""
        c = self.config
        shape = (c.num_layers * c.directions, B, c.hidden_size)
        if self.cell.num_states == 2 and isinstance(state, np.ndarray):
            raise ValueError(f"{what} for an LSTM is State(h, c) or a pair (h, c), got one array")
        state = State.of(state) or State(None)
        if self.cell.num_states == 1 and state.c is not None:
            raise ValueError(f"{what}: a {c.mode} state has no cell state c, got c of shape "
                             f"{np.shape(state.c)}")
        out = []
        for name, s in zip("hc", state[:self.cell.num_states]):
            if s is None:
                out.append(np.zeros(shape, dtype=self.dtype))
                continue
            s = np.asarray(s, dtype=self.dtype)
            if s.shape != shape:
                raise ValueError(f"{what} {name} must have shape {shape} (L*D, B, H), got {s.shape}")
            out.append(s if packing.perm is None else s[:, packing.perm])
        return out

    def _states_out(self, states: list[np.ndarray], packing: Packing) -> State:
        if packing.inverse is not None:
            states = [s[:, packing.inverse] for s in states]
        return State(*states)

    # ---- forward / backward ---------------------------------------------------------------
    def forward(self, x: np.ndarray, state0=None, lengths: np.ndarray | None = None,
                training: bool = False):
        """Run all layers and directions.

        x: (T, B, E) (or (B, T, E) if batch_first); state0: State(h_0, c_0), each (L*D, B, H)
        (c_0 for the LSTM only; None or a missing c_0: zeros); lengths: (B,) real lengths,
        1..T, or None for all T. Returns (output (T, B, D*H), final State, cache).
        """
        c = self.config
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 3:
            raise ValueError(f"input must be 3-D ({'B, T' if c.batch_first else 'T, B'}, E), got shape {x.shape}")
        if c.batch_first:
            x = x.transpose(1, 0, 2)
        T, B, E = x.shape
        if E != c.input_size:
            raise ValueError(f"input.size(-1) must be equal to input_size. Expected {c.input_size}, got {E}")
        if T == 0:
            raise ValueError("input has no time steps (T = 0)")
        packing = pack(lengths, T, B)
        x = np.ascontiguousarray(x if packing.perm is None else x[:, packing.perm])
        states0 = self._states_in(state0, B, packing, "state0")
        finals = [np.empty_like(s) for s in states0]
        layer_caches, masks = [], []
        for layer in range(c.num_layers):
            mask = None
            if layer > 0 and training and c.dropout > 0:
                keep = 1.0 - c.dropout
                mask = (self.dropout_rng.random(x.shape) < keep).astype(self.dtype) / self.dtype.type(keep)
                x = x * mask
            outs, caches = [], []
            for d in range(c.directions):
                k = layer * c.directions + d
                out, final, cache = direction_forward(
                    self.cell, x, self._direction_params(layer, d),
                    tuple(s[k] for s in states0), packing, reverse=bool(d))
                for f_all, f in zip(finals, final):
                    f_all[k] = f
                outs.append(out)
                caches.append(cache)
            x = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)  # (T, B, D*H)
            layer_caches.append(caches)
            masks.append(mask)
        if packing.inverse is not None:
            x = x[:, packing.inverse]
        if c.batch_first:
            x = x.transpose(1, 0, 2)
        return x, self._states_out(finals, packing), RecurrentCache(packing, layer_caches, masks, c.batch_first)

    def backward(self, cache: RecurrentCache, d_output: np.ndarray | None = None, d_final=None):
        """Backpropagation through time for ``forward``.

        d_output: dL/d output, shaped like the output (None: zero); d_final: dL/d final state, a
        State like it (None, or a missing c: zero). Returns (dx shaped like x, d_state0 as a
        State, grads {name: array} for every parameter).
        """
        c = self.config
        packing, layer_caches, masks, batch_first = cache
        T = len(packing.batch_sizes)
        B = len(packing.lengths)
        D, H = c.directions, c.hidden_size
        if d_output is None:
            d_x = np.zeros((T, B, D * H), dtype=self.dtype)
        else:
            d_x = np.asarray(d_output, dtype=self.dtype)
            if batch_first:
                d_x = d_x.transpose(1, 0, 2)
            if d_x.shape != (T, B, D * H):
                want = (B, T, D * H) if batch_first else (T, B, D * H)
                raise ValueError(f"d_output must have the output's shape {want}, got {np.shape(d_output)}")
            if packing.perm is not None:
                d_x = d_x[:, packing.perm]
        d_finals = self._states_in(d_final, B, packing, "d_final")
        d_states0 = [np.empty_like(s) for s in d_finals]
        grads = {}
        for layer in reversed(range(c.num_layers)):
            d_in = None
            for d in range(D):
                k = layer * D + d
                params = self._direction_params(layer, d)
                dx, d_s0, (dU, dW, db_ih, db_hh) = direction_backward(
                    self.cell, d_x[:, :, d * H:(d + 1) * H], tuple(s[k] for s in d_finals),
                    layer_caches[layer][d], params, packing)
                for ds_all, ds in zip(d_states0, d_s0):
                    ds_all[k] = ds
                s = self._suffix(layer, d)
                grads[f"weight_ih{s}"], grads[f"weight_hh{s}"] = dU, dW
                grads[f"bias_ih{s}"], grads[f"bias_hh{s}"] = db_ih, db_hh
                d_in = dx if d_in is None else d_in + dx
            if masks[layer] is not None:
                d_in *= masks[layer]
            d_x = d_in
        if packing.inverse is not None:
            d_x = d_x[:, packing.inverse]
        if batch_first:
            d_x = d_x.transpose(1, 0, 2)
        return d_x, self._states_out(d_states0, packing), grads

    def __call__(self, x, state0=None, lengths=None):
        """Inference: (output, final state), no cache kept."""
        out, final, _ = self.forward(x, state0, lengths, training=False)
        return out, final


def RNN(input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
        bidirectional: bool = False, dropout: float = 0.0, batch_first: bool = False,
        dtype: str = "float32", rng: np.random.Generator | None = None) -> Recurrent:
    """Vanilla RNN h_t = f(U x_t + W h_{t-1} + b), f in tanh / relu / sigmoid."""
    return Recurrent(RecurrentConfig(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers,
                                     bidirectional, dropout, batch_first, dtype), rng)


def LSTM(input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
         dropout: float = 0.0, batch_first: bool = False, dtype: str = "float32",
         rng: np.random.Generator | None = None) -> Recurrent:
    """LSTM with PyTorch's equations and gate order i, f, g, o (see cells/lstm.py)."""
    return Recurrent(RecurrentConfig("lstm", input_size, hidden_size, num_layers, bidirectional,
                                     dropout, batch_first, dtype), rng)


def GRU(input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
        dropout: float = 0.0, batch_first: bool = False, dtype: str = "float32",
        rng: np.random.Generator | None = None) -> Recurrent:
    """GRU with PyTorch's equations and gate order r, z, n (see cells/gru.py)."""
    return Recurrent(RecurrentConfig("gru", input_size, hidden_size, num_layers, bidirectional,
                                     dropout, batch_first, dtype), rng)

r"""Recurrent layers: RNN, LSTM and GRU over batches of sequences, stacked and bidirectional.

Shapes (PyTorch's): input x (T, B, E), or (B, T, E) with ``batch_first``, or one unbatched
sequence (T, E); output (T, B, D*P) with D = 2 if bidirectional else 1 (zero at padded steps);
states h_0, h_n of shape (L*D, B, P) and, for the LSTM, c_0, c_n of shape (L*D, B, H), with
L = ``num_layers``, index ``l*D + d``; unbatched input gives (T, D*P) and (L*D, P). P = H, or the
LSTM's ``proj_size``. A state goes in as a ``bptt.state.State`` (or h, or (h, c)) and comes out
as a ``State(h, c)``, c None for RNN and GRU; it unpacks as ``h, c``.

Parameters use PyTorch's names, so weights move between the two without renaming::

    weight_ih_l{l}{sfx}  (G*H, In)   U, input -> hidden; In = E for l = 0, D*P above
    weight_hh_l{l}{sfx}  (G*H, P)    W, hidden -> hidden, shared by every step
    bias_ih_l{l}{sfx}    (G*H,)      b = bias_ih + bias_hh (except the GRU's n block, where
    bias_hh_l{l}{sfx}    (G*H,)      b_hn sits inside the reset product: see cells/gru.py);
                                     absent with ``bias=False``
    weight_hr_l{l}{sfx}  (P, H)      the LSTM's projection h_t = W_hr (o_t * tanh(c_t)), only
                                     with ``proj_size`` = P > 0

with sfx = "" forward, "_reverse" backward direction and G = 1 (RNN), 4 (LSTM rows i, f, g, o),
3 (GRU rows r, z, n). All are initialised U(-1/sqrt(H), 1/sqrt(H)) like PyTorch, from ``rng`` if
given, else from the process-wide generator of ``bptt.rng`` (fresh weights for every layer;
``bptt.manual_seed(seed)`` makes them reproducible).

Layer l > 0 reads the concatenated outputs of layer l-1; with ``dropout`` p > 0 and
``training=True`` that input is multiplied by a mask of Bernoulli(1-p)/(1-p) drawn from the
layer's seeded generator (never after the last layer, as in PyTorch).

``weight_dropout`` q > 0 (AWD-LSTM's DropConnect on W, Merity et al. 2018; fastai's
``WeightDropout``): with ``training=True`` each direction of each layer runs with

    W~ = W * M,   M (G*H, P) of Bernoulli(1-q)/(1-q), drawn once per forward      (one mask for
                                                                                   every step and sequence)
    dL/dW = dL/dW~ * M                                                             (W~ is linear in W)

so the recurrence keeps a fixed set of connections through a whole sequence, and BPTT is the
cell's own with W~ in place of W. Inference uses W (the mask's mean is 1).

The cells run on the path ``bptt.backend`` chooses (reference, fast NumPy or compiled). ``mode``
is any registered cell (``bptt.cells.register_cell``; docs/cells.md): its layout gives the
parameters (no ``weight_hh`` / ``bias_hh`` for minGRU and minLSTM, a cell's ``extra`` vectors as
``{name}_l{l}{sfx}``) and its state is (h,) or (h, c).

Usage::

    lstm = LSTM(64, 128, num_layers=2, bidirectional=True)
    out, (h_n, c_n), cache = lstm.forward(x, lengths=lengths, training=True)
    dx, (dh_0, dc_0), grads = lstm.backward(cache, d_out, (dh_n, dc_n))
    out, (h_n, _), cache = gru.forward(x)                  # State(h_n, None)
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .cells import MODES, Params, get_cell
from .rng import default_generator
from .sequence import Packing, direction_backward, direction_forward, pack, padding_mask
from .state import State


@dataclass(frozen=True)
class RecurrentConfig:
    mode: str                   # "rnn_tanh" | "rnn_relu" | "rnn_sigmoid" | "lstm" | "gru" | a registered cell
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    batch_first: bool = False
    dtype: str = "float32"
    bias: bool = True           # False: no bias_ih / bias_hh (PyTorch's bias=False)
    proj_size: int = 0          # LSTM only: h_t = W_hr (o_t * tanh(c_t)) of this size (0: none)
    weight_dropout: float = 0.0  # DropConnect on weight_hh in training: W * Bernoulli(1-q)/(1-q)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES} (or a cell registered with "
                             f"bptt.cells.register_cell), got {self.mode!r}")
        if not isinstance(self.proj_size, (int, np.integer)) or self.proj_size < 0:
            raise ValueError(f"proj_size must be a non-negative integer, got {self.proj_size!r}")
        if self.proj_size and self.mode != "lstm":
            raise ValueError(f"proj_size is only for the LSTM, got proj_size={self.proj_size} for {self.mode!r}")
        if not 0.0 <= self.weight_dropout < 1.0:
            raise ValueError(f"weight_dropout must be in [0, 1), got {self.weight_dropout}")
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size, got {self.proj_size} >= "
                             f"{self.hidden_size}")
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

    @property
    def state_size(self) -> int:
        """The size of h (and of each direction's output): proj_size if set, else hidden_size."""
        return self.proj_size or self.hidden_size


class RecurrentCache(NamedTuple):
    packing: Packing
    layers: list                # per layer: list of DirectionCache, one per direction
    masks: list                 # per layer: dropout mask (T, B, In) applied to its input, or None
    batch_first: bool
    unbatched: bool = False     # the input was one sequence (T, E), without a batch axis
    weight_masks: list | None = None    # per layer, per direction: the mask M (G*H, P) of W, or None


class Recurrent:
    """A stack of recurrent layers; see the module docstring. ``RNN``, ``LSTM``, ``GRU`` build it."""

    def __init__(self, config: RecurrentConfig, rng: np.random.Generator | None = None,
                 dropout_seed: int = 0):
        self.config = config
        self.cell = get_cell(config.mode)
        if config.weight_dropout and not self.cell.recurrent:
            raise ValueError(f"weight_dropout drops connections of W, and a {config.mode} cell has no W "
                             f"(it reads h_(t-1) through no matrix): use dropout on its inputs instead")
        self._listener = None               # see ``listening``
        self.dtype = np.dtype(config.dtype)
        self.dropout_rng = np.random.default_rng(dropout_seed)
        rng = default_generator() if rng is None else rng
        k = 1.0 / np.sqrt(config.hidden_size)
        self.params = {name: rng.uniform(-k, k, size=shape).astype(self.dtype)
                       for name, shape in self.param_shapes().items()}

    @classmethod
    def from_config(cls, config: dict, rng: np.random.Generator | None = None) -> "Recurrent":
        """Build from ``config.to_dict()`` output (e.g. a saved JSON config)."""
        return cls(RecurrentConfig(**config), rng)

    @contextmanager
    def listening(self, listener):
        """Inside the block, ``backward`` first calls ``listener(cache, d_output, d_final)`` with
        what it was given (``bptt.diagnostics`` reads a model's gradients into its layer so)."""
        previous, self._listener = self._listener, listener
        try:
            yield
        finally:
            self._listener = previous

    def generators(self) -> dict[str, np.random.Generator]:
        """The random generators the layer draws from (saved in checkpoints for exact resume)."""
        return {"dropout": self.dropout_rng}

    # ---- parameters -------------------------------------------------------------------
    def _suffix(self, layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """{name: shape} from the cell's layout: weight_ih, weight_hh (a recurrent cell), the
        biases (with ``bias``), weight_hr (``proj_size``), then the cell's extra vectors."""
        c, cell = self.config, self.cell
        G, H, P = cell.gates * c.hidden_size, c.hidden_size, c.state_size
        shapes = {}
        for layer in range(c.num_layers):
            In = c.input_size if layer == 0 else c.directions * P
            for d in range(c.directions):
                s = self._suffix(layer, d)
                shapes[f"weight_ih{s}"] = (G, In)
                if cell.recurrent:
                    shapes[f"weight_hh{s}"] = (G, P)
                if c.bias:
                    shapes[f"bias_ih{s}"] = (G,)
                    if cell.recurrent:
                        shapes[f"bias_hh{s}"] = (G,)
                if c.proj_size:
                    shapes[f"weight_hr{s}"] = (P, H)
                for name, blocks in cell.extra.items():
                    shapes[f"{name}{s}"] = (len(blocks) * H,)
        return shapes

    def _direction_params(self, layer: int, d: int, weight_mask: np.ndarray | None = None) -> Params:
        """The parameters of one direction; zero biases when the layer has none, W = b_hh = None
        when the cell is not recurrent; W * ``weight_mask`` when one is given (weight dropout)."""
        s = self._suffix(layer, d)
        p, recurrent = self.params, self.cell.recurrent
        U = p[f"weight_ih{s}"]
        if self.config.bias:
            b_ih, b_hh = p[f"bias_ih{s}"], p.get(f"bias_hh{s}")
        else:
            b_ih = np.zeros(U.shape[0], dtype=self.dtype)
            b_hh = b_ih if recurrent else None
        extra = {name: p[f"{name}{s}"] for name in self.cell.extra} or None
        W = p.get(f"weight_hh{s}")
        if weight_mask is not None:
            W = W * weight_mask                                          # W~ = W * M
        return Params(U, W, b_ih, b_hh, p.get(f"weight_hr{s}"), extra)

    def _weight_mask(self, layer: int, d: int, training: bool) -> np.ndarray | None:
        """M (G*H, P) of Bernoulli(1-q)/(1-q) for W of one direction (weight dropout q), or None."""
        q = self.config.weight_dropout
        if not (training and q > 0 and self.cell.recurrent):
            return None
        shape = self.params[f"weight_hh{self._suffix(layer, d)}"].shape
        keep = 1.0 - q
        return (self.dropout_rng.random(shape) < keep).astype(self.dtype) / self.dtype.type(keep)

    # ---- states ---------------------------------------------------------------------------
    def _states_in(self, state, B: int, packing: Packing, what: str) -> list[np.ndarray]:
        """A user state (``State``, or h, or (h, c)), each (L*D, B, H), as packed arrays; a
        missing state, or an LSTM's missing c, is zero. h is (L*D, B, proj_size) for a
        projecting LSTM."""
        c = self.config
        n = self.cell.num_states
        shapes = [(c.num_layers * c.directions, B, size) for size in (c.state_size, c.hidden_size)[:n]]
        if n == 2 and isinstance(state, np.ndarray):
            raise ValueError(f"{what} for {c.mode!r} is State(h, c) or a pair (h, c), got one array")
        state = State.of(state) or State(None)
        if n == 1 and state.c is not None:
            raise ValueError(f"{what}: a {c.mode} state has no cell state c, got c of shape "
                             f"{np.shape(state.c)}")
        out = []
        for name, s, shape in zip("hc", state[:n], shapes):
            if s is None:
                out.append(np.zeros(shape, dtype=self.dtype))
                continue
            s = np.asarray(s, dtype=self.dtype)
            if s.shape != shape:
                raise ValueError(f"{what} {name} must have shape {shape} (L*D, B, "
                                 f"{'proj_size' if shape[2] != c.hidden_size else 'H'}), got {s.shape}")
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

        x: (T, B, E) (or (B, T, E) if batch_first), or one unbatched sequence (T, E); state0:
        State(h_0, c_0), each (L*D, B, H) (c_0 for the LSTM only; None or a missing c_0: zeros;
        without the B axis for unbatched input); lengths: (B,) real lengths, 1..T, or None for
        all T. Returns (output (T, B, D*H), final State, cache); unbatched input gives unbatched
        output (T, D*H) and states (L*D, H), as in PyTorch. H is proj_size for the h of a
        projecting LSTM.
        """
        c = self.config
        x = np.asarray(x, dtype=self.dtype)
        unbatched = x.ndim == 2
        if unbatched:                       # one sequence: a batch of one (batch_first does not apply)
            if lengths is not None:
                raise ValueError("lengths need a batch: unbatched input (T, E) is one sequence of "
                                 "length T; pass (T, 1, E) with lengths=[n], or slice x[:n]")
            x, state0 = x[:, None], _with_batch_axis(state0)
        elif x.ndim != 3:
            raise ValueError(f"input must be 3-D ({'B, T' if c.batch_first else 'T, B'}, E) or 2-D "
                             f"(T, E) for one sequence, got shape {x.shape}")
        elif c.batch_first:
            x = x.transpose(1, 0, 2)
        T, B, E = x.shape
        if E != c.input_size:
            raise ValueError(f"input.size(-1) must be equal to input_size. Expected {c.input_size}, got {E}")
        if T == 0:
            raise ValueError("input has no time steps (T = 0)")
        packing = pack(lengths, T, B)
        x = self._own_input(x, packing)
        states0 = self._states_in(state0, B, packing, "state0")
        finals = [np.empty_like(s) for s in states0]
        layer_caches, masks, weight_masks = [], [], []
        for layer in range(c.num_layers):
            mask = None
            if layer > 0 and training and c.dropout > 0:
                keep = 1.0 - c.dropout
                mask = (self.dropout_rng.random(x.shape) < keep).astype(self.dtype) / self.dtype.type(keep)
                x = x * mask
            outs, caches, layer_weight_masks = [], [], []
            for d in range(c.directions):
                k = layer * c.directions + d
                weight_mask = self._weight_mask(layer, d, training)
                layer_weight_masks.append(weight_mask)
                out, final, cache = direction_forward(
                    self.cell, x, self._direction_params(layer, d, weight_mask),
                    tuple(s[k] for s in states0), packing, reverse=bool(d))
                for f_all, f in zip(finals, final):
                    f_all[k] = f
                outs.append(out)
                caches.append(cache)
            x = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)  # (T, B, D*H)
            layer_caches.append(caches)
            masks.append(mask)
            weight_masks.append(layer_weight_masks)
        if packing.inverse is not None:
            x = x[:, packing.inverse]
        if c.batch_first and not unbatched:
            x = x.transpose(1, 0, 2)
        final = self._states_out(finals, packing)
        cache = RecurrentCache(packing, layer_caches, masks, c.batch_first and not unbatched, unbatched,
                               weight_masks if c.weight_dropout > 0 and training else None)
        if unbatched:
            x, final = x[:, 0], _without_batch_axis(final)
        x.flags.writeable = False           # backward may read it: refuse edits (see _own_input)
        return x, final, cache

    def _own_input(self, x: np.ndarray, packing: Packing) -> np.ndarray:
        """x (T, B, E) contiguous, rows in packed order, padding zeroed.

        Padding is set to 0 because dU = sum_t da_t^T x_t multiplies the (zero) gradient of a
        padded step by its input, and 0 * NaN is NaN; that needs a copy, never the caller's
        buffer. Without padding the caller's array may come back as it is: every path's cache
        keeps its own copy of its input (refilling the caller's buffer before ``backward`` must
        not change the gradients; ``tests/test_recurrent_isolation.py``), and the output that
        ``forward`` returns is read-only for the same reason: it may be the cached h_t.
        """
        given = x
        x = np.ascontiguousarray(x if packing.perm is None else x[:, packing.perm])
        if packing.rev_index is not None:                    # some sequence is padded
            if np.may_share_memory(x, given):
                x = x.copy()
            x[padding_mask(packing)] = 0
        return x

    def backward(self, cache: RecurrentCache, d_output: np.ndarray | None = None, d_final=None):
        """Backpropagation through time for ``forward``.

        d_output: dL/d output, shaped like the output (None: zero); d_final: dL/d final state, a
        State like it (None, or a missing c: zero). Returns (dx shaped like x, d_state0 as a
        State, grads {name: array} for every parameter).
        """
        c = self.config
        packing, layer_caches, masks, batch_first, unbatched, weight_masks = cache
        if unbatched:
            if d_output is not None:
                d_output = np.asarray(d_output)[:, None]
            d_final = _with_batch_axis(d_final)
        T = len(packing.batch_sizes)
        B = len(packing.lengths)
        D, H = c.directions, c.state_size
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
        if self._listener is not None:
            self._listener(cache, d_output, d_final)
        grads = {}
        for layer in reversed(range(c.num_layers)):
            d_in = None
            for d in range(D):
                k = layer * D + d
                weight_mask = None if weight_masks is None else weight_masks[layer][d]
                params = self._direction_params(layer, d, weight_mask)          # W~, as in forward
                dx, d_s0, (dU, dW, db_ih, db_hh, dW_hr, d_extra) = direction_backward(
                    self.cell, d_x[:, :, d * H:(d + 1) * H], tuple(s[k] for s in d_finals),
                    layer_caches[layer][d], params, packing)
                for ds_all, ds in zip(d_states0, d_s0):
                    ds_all[k] = ds
                s = self._suffix(layer, d)
                grads[f"weight_ih{s}"] = dU
                if self.cell.recurrent:
                    grads[f"weight_hh{s}"] = dW if weight_mask is None else dW * weight_mask   # dL/dW~ * M
                if c.bias:
                    grads[f"bias_ih{s}"] = db_ih
                    if self.cell.recurrent:
                        grads[f"bias_hh{s}"] = db_hh
                if c.proj_size:
                    grads[f"weight_hr{s}"] = dW_hr
                for name in self.cell.extra:
                    grads[f"{name}{s}"] = d_extra[name]
                d_in = dx if d_in is None else d_in + dx
            if masks[layer] is not None:
                d_in *= masks[layer]
            d_x = d_in
        if packing.inverse is not None:
            d_x = d_x[:, packing.inverse]
        if batch_first:
            d_x = d_x.transpose(1, 0, 2)
        d_state0 = self._states_out(d_states0, packing)
        if unbatched:
            return d_x[:, 0], _without_batch_axis(d_state0), grads
        return d_x, d_state0, grads

    def __call__(self, x, state0=None, lengths=None):
        """Inference: (output, final state), no cache kept (so the output is writable)."""
        out, final, cache = self.forward(x, state0, lengths, training=False)
        del cache
        out.flags.writeable = True
        return out, final


def _with_batch_axis(state):
    """An unbatched state (a State, h, or (h, c), each (L*D, H)) as a batch of one: (L*D, 1, H)."""
    state = State.of(state)
    return None if state is None else state.map(lambda a: np.asarray(a)[:, None])


def _without_batch_axis(state: State) -> State:
    return state.map(lambda a: a[:, 0])


def RNN(input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
        bidirectional: bool = False, dropout: float = 0.0, batch_first: bool = False,
        dtype: str = "float32", rng: np.random.Generator | None = None, bias: bool = True
        ) -> Recurrent:
    """Vanilla RNN h_t = f(U x_t + W h_{t-1} + b), f in tanh / relu / sigmoid."""
    return Recurrent(RecurrentConfig(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers,
                                     bidirectional, dropout, batch_first, dtype, bias), rng)


def LSTM(input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
         dropout: float = 0.0, batch_first: bool = False, dtype: str = "float32",
         rng: np.random.Generator | None = None, bias: bool = True, proj_size: int = 0) -> Recurrent:
    """LSTM with PyTorch's equations and gate order i, f, g, o (see cells/lstm.py); with
    ``proj_size`` > 0 its h_t = W_hr (o_t * tanh(c_t)) has that size (PyTorch's projection)."""
    return Recurrent(RecurrentConfig("lstm", input_size, hidden_size, num_layers, bidirectional,
                                     dropout, batch_first, dtype, bias, proj_size), rng)


def GRU(input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
        dropout: float = 0.0, batch_first: bool = False, dtype: str = "float32",
        rng: np.random.Generator | None = None, bias: bool = True) -> Recurrent:
    """GRU with PyTorch's equations and gate order r, z, n (see cells/gru.py)."""
    return Recurrent(RecurrentConfig("gru", input_size, hidden_size, num_layers, bidirectional,
                                     dropout, batch_first, dtype, bias), rng)


def MinGRU(input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
           dropout: float = 0.0, batch_first: bool = False, dtype: str = "float32",
           rng: np.random.Generator | None = None, bias: bool = True) -> Recurrent:
    """minGRU (Feng et al. 2024): z_t = sigma(U_z x_t + b_z), h~_t = U_h x_t + b_h,
    h_t = (1 - z_t) h_{t-1} + z_t h~_t; weight_ih rows z, h~, no weight_hh (see cells/mingru.py)."""
    return Recurrent(RecurrentConfig("mingru", input_size, hidden_size, num_layers, bidirectional,
                                     dropout, batch_first, dtype, bias), rng)


def MinLSTM(input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
            dropout: float = 0.0, batch_first: bool = False, dtype: str = "float32",
            rng: np.random.Generator | None = None, bias: bool = True) -> Recurrent:
    """minLSTM (Feng et al. 2024): f, i = sigma(U_f x_t + b_f), sigma(U_i x_t + b_i),
    h~_t = U_h x_t + b_h, h_t = (f h_{t-1} + i h~_t) / (f + i); weight_ih rows f, i, h~, no
    weight_hh (see cells/minlstm.py)."""
    return Recurrent(RecurrentConfig("minlstm", input_size, hidden_size, num_layers, bidirectional,
                                     dropout, batch_first, dtype, bias), rng)

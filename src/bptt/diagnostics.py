r"""Gradients through time, measured: where BPTT's gradient vanishes or explodes, and by how much.

Everything here is computed exactly from a forward cache, in float64, never estimated.

**dL/dh_t at every step** (``state_gradients``). The cells' backward passes keep dL/dh_t only as
a running variable. This module recomputes it with its own loop over the cache, one step back at a
time through the reference cell's ``step_backward`` (``cells/rnn.py``, ``lstm.py``, ``gru.py``),
which applies the exact transposed state Jacobian of each cell (docs/math.md sections 3, 5, 6)::

    g_t = dL/dh_t = dL_t/dh_t (direct, from the output at t) + J_{t+1}^T g_{t+1}

so the result is the *total* derivative of the loss with respect to h_t, what PyTorch puts in
``h_t.grad`` for a step-by-step loop with ``retain_grad``. For the LSTM the state is s_t = (h_t,
c_t), two coordinates, and dL/dc_t is taken with h_t held fixed: the gradient the cell state
carries to step t from later steps (what ``c_t.grad`` holds when c_t is the state passed to the
next ``nn.LSTMCell``). The path c_t -> h_t = o_t tanh(c_t) is in dL/dh_t's share.

**The Jacobian product ds_n/ds_t** (``jacobian_norms``, ``jacobian_product``). With s_n the state
after the direction's last real step, P_t = ds_n/ds_t is built backwards from P_n = I by
P_{t-1} = P_t J_t, i.e. by sending every row of the identity through the same one-step backward.
The per-step state Jacobians J_t = ds_t/ds_{t-1} are::

    RNN   dh_t/dh_{t-1} = diag(f'(a_t)) W
    GRU   dh_t/dh_{t-1} = diag(z_t) + [diag(.) for r, z, n] W                (math.md (G7))
    LSTM  d(h_t, c_t)/d(h_{t-1}, c_{t-1}): the (2H, 2H) Jacobian of the state pair; the c -> c
          block alone is diag(f_t), the path that carries the gradient (math.md section 5)

Products are renormalised every step (their log scale kept aside), so a norm of 1e-300 or 1e300
is still reported correctly. Norms are spectral (largest singular value) unless ``ord="fro"``.

**Parameters**: ``weight_spectrum`` (spectral radius and largest singular value of each gate
block of W: the quantity in the bound ||dh_T/dh_t|| <= (gamma sigma_max(W))^{T-t}) and
``grad_norms`` (per parameter and per gate block: LSTM i, f, g, o; GRU r, z, n).

**A whole model** (``diagnose``): any model whose ``loss_and_grads`` calls ``self.rnn.backward``
(``Regressor``, ``Classifier``). The call is run once while the layer reports the cache and the
gradients the model sends into its ``backward`` (``Recurrent.listening``); nothing in the model
changes.

**During training**: ``record_every(n, path)`` returns a recorder; a step function calls
``recorder(step, model, *batch)`` and every n-th step it appends ``{"event": "gradients", ...}``
to ``path`` (e.g. the Trainer's metrics.jsonl) and returns the record.

**Plots** (matplotlib, the optional extra ``plot``, imported only when a plot is drawn):
``plot_distance`` (gradient norm against distance from the loss, log scale, one line per model),
``plot_heatmap`` (dL/dh_t against distance and training step), ``plot_losses`` (loss curves with
clipping events marked).

Layers and directions are keyed like the parameter suffixes: "l0", "l0_reverse", "l1", ...
Arrays over time are in the input's time order and row order; padded steps hold 0 (gradients)
or NaN (Jacobian norms). "Distance" k counts steps back from where the loss enters: the last real
step for a forward direction, the first step for a reverse one.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .cells import MODES, Cell, Params, get_cell
from .recurrent import Recurrent, RecurrentCache
from .sequence import DirectionCache, direction_backward, reverse_within, step_cache
from .sparse import SparseRows
from .state import State

_RECURRENT = re.compile(r"(?:^|\.)(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")
F64 = np.float64


def gate_names(mode: str) -> tuple[str, ...]:
    """The row blocks of a cell's weights (LSTM i, f, g, o; GRU r, z, n; RNN one block, "W")."""
    return get_cell(mode).blocks if mode in MODES else ("W",)


# ---- one step back, for a stack of row vectors --------------------------------------------------
# P holds K row vectors dL/ds_t per running row: (n, K, S), S = H (or 2H for the LSTM's (h, c)).
# Each goes through the reference cell's step_backward (cells/rnn.py, lstm.py, gru.py), which
# gives dL/ds_{t-1} = J_t^T dL/ds_t, the transposed state Jacobian of docs/math.md (1), (L2), (G7).

def _step(dr: "_Direction", t: int, rows):
    """Step t's reference StepCache for the packed rows ``rows``, in float64."""
    step = step_cache(dr.cell, dr.cache, dr.params, t, rows)
    return type(step)(*(f.astype(F64) if isinstance(f, np.ndarray) else f for f in step))


def _step_back(dr: "_Direction", step, P: np.ndarray) -> np.ndarray:
    """(n, K, S) -> (n, K, S): each of the K vectors of each row sent back through one step (the
    row's cache repeated K times; the parameter gradients step_backward returns are not used).
    S = the sum of the state's sizes: for the LSTM P + H, (h, c) side by side."""
    n, K, S = P.shape
    step = type(step)(*(np.repeat(f, K, axis=0) if isinstance(f, np.ndarray) else f for f in step))
    d_state = tuple(np.split(P.reshape(n * K, S), np.cumsum(dr.sizes)[:-1], axis=1))
    _, d_prev, _ = dr.cell.step_backward(d_state, step)
    return np.concatenate(d_prev, axis=1).reshape(n, K, S)


# ---- walking the layers and directions -----------------------------------------------------------

class _Direction(NamedTuple):
    key: str                  # "l0", "l0_reverse", ...
    reverse: bool
    cell: Cell
    sizes: tuple              # the sizes of the state's parts: (P,) or (P, H)
    cache: DirectionCache
    params: Params            # float64
    d_out: np.ndarray         # (T, B, H) dL/d outputs, packed rows, the cell's time order
    d_final: tuple            # dL/d final states, each (B, H), packed rows


def _packed_states(state, shapes, perm):
    """The arrays of a State (an LSTM's missing c: zero), one per shape in ``shapes``, in
    float64, packed rows."""
    parts = (State.of(state) or State(None))[:len(shapes)]
    return [np.zeros(shape) if s is None else np.asarray(s, F64) if perm is None
            else np.asarray(s, F64)[:, perm] for s, shape in zip(parts, shapes)]


def _state_sizes(layer: Recurrent) -> tuple[int, ...]:
    """Sizes of the state's parts: (P,) or, for the LSTM, (P, H); P = proj_size or H."""
    c = layer.config
    return (c.state_size, c.hidden_size)[:layer.cell.num_states]


def _directions(layer: Recurrent, cache: RecurrentCache, d_output, d_final):
    """Every (layer, direction), top layer first, with the gradient that reaches its outputs and
    final states; the gradient into the layer below comes from ``direction_backward``."""
    c = layer.config
    packing, layer_caches, masks, batch_first, unbatched, weight_masks = cache
    if unbatched:                       # gradients shaped like unbatched outputs: a batch of one
        d_output = None if d_output is None else np.asarray(d_output)[:, None]
        d_final = None if d_final is None else State.of(d_final).map(lambda a: np.asarray(a)[:, None])
    T, B = len(packing.batch_sizes), len(packing.lengths)
    D, H = c.directions, c.state_size
    if d_output is None:
        d_x = np.zeros((T, B, D * H))
    else:
        d_x = np.asarray(d_output, F64)
        d_x = d_x.transpose(1, 0, 2) if batch_first else d_x
        d_x = d_x if packing.perm is None else d_x[:, packing.perm]
    finals = _packed_states(d_final, [(c.num_layers * D, B, n) for n in _state_sizes(layer)],
                            packing.perm)
    for l in reversed(range(c.num_layers)):
        d_in = None
        for d in range(D):
            k = l * D + d
            dcache = layer_caches[l][d]
            d_out = d_x[:, :, d * H:(d + 1) * H]
            params = layer._direction_params(l, d, None if weight_masks is None else weight_masks[l][d])
            yield _Direction(f"l{l}" + ("_reverse" if d else ""), bool(d), layer.cell, _state_sizes(layer),
                             dcache, params.map(lambda p: p.astype(F64)),
                             reverse_within(d_out, packing) if d else d_out,
                             tuple(s[k] for s in finals))
            if l > 0:                   # the gradient into layer l - 1, in the layer's dtype
                dx, _, _ = direction_backward(layer.cell, d_out.astype(layer.dtype),
                                              tuple(s[k].astype(layer.dtype) for s in finals),
                                              dcache, params, packing)
                d_in = dx.astype(F64) if d_in is None else d_in + dx
        if l > 0:
            d_x = d_in * masks[l] if masks[l] is not None else d_in


def _to_input_order(a: np.ndarray, packing, reverse: bool) -> np.ndarray:
    """(T, B, ...) in a direction's time order and packed rows -> input time order and rows."""
    a = reverse_within(a, packing) if reverse else a
    return a if packing.inverse is None else a[:, packing.inverse]


# ---- dL/dh_t ---------------------------------------------------------------------------------------

class StateGrads(NamedTuple):
    h: np.ndarray             # (T, B, H) dL/dh_t, total; 0 at padded steps
    c: np.ndarray | None      # (T, B, H) dL/dc_t with h_t fixed (LSTM), else None


def state_gradients(layer: Recurrent, cache: RecurrentCache, d_output=None, d_final=None
                    ) -> dict[str, StateGrads]:
    """dL/dh_t (and dL/dc_t) at every step of every layer and direction, float64.

    ``d_output`` and ``d_final`` are what ``layer.backward`` takes (shaped like the output and the
    final state, None for zero). Returns {"l0": StateGrads, ...}.
    """
    packing, two = cache.packing, layer.cell.num_states == 2       # (h, c): the LSTM's
    out = {}
    for dr in _directions(layer, cache, d_output, d_final):
        T, B, H = dr.d_out.shape                                       # H: the size of h
        dh_all = np.zeros((T, B, H))
        dc_all = np.zeros((T, B, layer.config.hidden_size)) if two else None
        g = np.concatenate(dr.d_final, axis=1)[:, None, :]            # (B, 1, S) running dL/ds
        for t in reversed(range(T)):
            n = packing.batch_sizes[t]
            g[:n, 0, :H] += dr.d_out[t, :n]                            # + the direct dL_t/dh_t
            dh_all[t, :n] = g[:n, 0, :H]
            if two:
                dc_all[t, :n] = g[:n, 0, H:]                           # from step t+1 only
            g[:n] = _step_back(dr, _step(dr, t, slice(None, n)), g[:n])
        out[dr.key] = StateGrads(_to_input_order(dh_all, packing, dr.reverse),
                                 None if dc_all is None else _to_input_order(dc_all, packing, dr.reverse))
    return out


# ---- ds_n/ds_t -------------------------------------------------------------------------------------

class JacobianNorms(NamedTuple):
    state: np.ndarray         # (T, B) ||ds_n/ds_t|| (s = (h, c) for the LSTM); NaN: padded or not computed
    h: np.ndarray             # (T, B) ||dh_n/dh_t|| (the h -> h block; equal to ``state`` for RNN, GRU)


def _products(dr: _Direction, S, bs, rows, visit):
    """P_t = ds_n/ds_t for the packed ``rows`` (R,), from the last step back; calls
    visit(t, idx, P[idx], log_scale[idx]) at every step where rows ``idx`` are running."""
    R = len(rows)
    P = np.tile(np.eye(S), (R, 1, 1))                                  # (R, S, S)
    log_scale = np.zeros(R)
    for t in reversed(range(len(bs))):
        idx = np.flatnonzero(rows < bs[t])
        if idx.size == 0:
            continue
        visit(t, idx, P[idx], log_scale[idx])
        Q = _step_back(dr, _step(dr, t, rows[idx]), P[idx])           # P_{t-1} = P_t J_t
        m = np.max(np.abs(Q), axis=(1, 2))
        m = np.where((m > 0) & np.isfinite(m), m, 1.0)
        P[idx] = Q / m[:, None, None]
        log_scale[idx] += np.log(m)


def _norm(P: np.ndarray, ord) -> np.ndarray:
    if ord == "fro":
        return np.sqrt(np.einsum("rij,rij->r", P, P))
    if not np.all(np.isfinite(P)):
        return np.full(len(P), np.nan)
    return np.linalg.svd(P, compute_uv=False)[:, 0]


def jacobian_norms(layer: Recurrent, cache: RecurrentCache, rows=None, ord=2
                   ) -> dict[str, JacobianNorms]:
    """||ds_n/ds_t|| at every step t of every layer and direction, for the batch ``rows`` (input
    row indices; None: all). ``ord``: 2 (spectral) or "fro". Each layer's input is held fixed."""
    if ord not in (2, "fro"):
        raise ValueError(f"ord must be 2 or 'fro', got {ord!r}")
    packing, H = cache.packing, layer.config.state_size             # H: the size of h
    B = len(packing.lengths)
    rows = np.arange(B) if rows is None else np.asarray(rows)
    packed = rows if packing.inverse is None else packing.inverse[rows]
    S = sum(_state_sizes(layer))
    out = {}
    for dr in _directions(layer, cache, None, None):
        T = dr.d_out.shape[0]
        state, hh = np.full((T, B), np.nan), np.full((T, B), np.nan)

        def visit(t, idx, P, log_scale):
            scale = np.exp(log_scale)
            state[t, packed[idx]] = scale * _norm(P, ord)
            hh[t, packed[idx]] = scale * _norm(P[:, :H, :H], ord) if S > H else state[t, packed[idx]]

        _products(dr, S, packing.batch_sizes, packed, visit)
        out[dr.key] = JacobianNorms(_to_input_order(state, packing, dr.reverse),
                                    _to_input_order(hh, packing, dr.reverse))
    return out


def jacobian_product(layer: Recurrent, cache: RecurrentCache, t: int, key: str = "l0",
                     row: int = 0) -> np.ndarray:
    """The exact matrix ds_n/ds_t (S, S) for one input row, with t in the input's time order
    (t = the output index: s_t is the state after reading x_t). S = H, or 2H for the LSTM with
    the state ordered (h, c). Meant for checking and for small H."""
    packing = cache.packing
    S = sum(_state_sizes(layer))
    p = row if packing.inverse is None else int(packing.inverse[row])
    length = int(packing.lengths[p])
    if not 0 <= t < length:
        raise ValueError(f"t must be in 0..{length - 1} (row {row} has {length} real steps), got {t}")
    found = {}
    for dr in _directions(layer, cache, None, None):
        if dr.key != key:
            continue
        t_cell = length - 1 - t if dr.reverse else t

        def visit(ts, idx, P, log_scale):
            if ts == t_cell:
                found["P"] = P[0] * np.exp(log_scale[0])

        _products(dr, S, packing.batch_sizes, np.array([p]), visit)
    if "P" not in found:
        raise KeyError(f"no layer/direction {key!r}; this layer has {[d.key for d in _directions(layer, cache, None, None)]}")
    return found["P"]


# ---- parameters ------------------------------------------------------------------------------------

def weight_spectrum(layer: Recurrent) -> dict[str, dict[str, dict[str, float]]]:
    """For every weight_hh: per gate block (H, H), the spectral radius max|eig| and the largest
    singular value; under "all", sigma_max of the whole (G*H, H) matrix. (A projecting LSTM's
    blocks are (H, proj_size), not square: their spectral radius is NaN.)"""
    H, names = layer.config.hidden_size, gate_names(layer.config.mode)

    def radius(block):
        square = block.shape[0] == block.shape[1]
        return float(np.max(np.abs(np.linalg.eigvals(block)))) if square else math.nan

    out = {}
    for name, W in layer.params.items():
        if not name.startswith("weight_hh"):
            continue
        W = W.astype(F64)
        blocks = {g: {"spectral_radius": radius(W[k * H:(k + 1) * H]),
                      "sigma_max": float(np.linalg.norm(W[k * H:(k + 1) * H], 2))}
                  for k, g in enumerate(names)}
        if len(names) > 1:
            blocks["all"] = {"sigma_max": float(np.linalg.norm(W, 2))}
        out[name] = blocks
    return out


def grad_norms(grads, mode: str | None = None) -> dict[str, float]:
    """||g||_2 of every gradient; with ``mode``, also of every gate block of the recurrent ones,
    under "name[gate]" (e.g. "rnn.weight_hh_l0[f]")."""
    out = {}
    for name, g in grads.items():
        if g is None:
            continue
        values = g.values if isinstance(g, SparseRows) else np.asarray(g)   # indices are unique
        out[name] = float(np.sqrt(np.vdot(values, values).real))
        names = gate_names(mode) if mode else ()
        if mode and len(names) > 1 and _RECURRENT.search(name):
            for k, block in enumerate(np.split(np.asarray(g, F64), len(names), axis=0)):
                out[f"{name}[{names[k]}]"] = float(np.linalg.norm(block))
    return out


# ---- whole models ----------------------------------------------------------------------------------

def by_distance(values: np.ndarray, lengths: np.ndarray, reverse: bool = False) -> np.ndarray:
    """(T, B) per step and row -> (T,) mean over rows at each distance k from where the loss
    enters (k = 0: the last real step; the first step for a reverse direction). NaN where no row
    is that long or the values are NaN."""
    T, B = values.shape
    k = np.arange(T)
    t = k[:, None] if reverse else lengths[None, :] - 1 - k[:, None]   # (T, B) step at distance k
    ok = (t >= 0) & (t < lengths[None, :])
    v = np.where(ok, values[np.clip(t, 0, T - 1), np.arange(B)[None, :]], np.nan)
    with np.errstate(all="ignore"):
        return np.array([np.nanmean(r) if np.any(np.isfinite(r)) else np.nan for r in v])


def decay_rate(curve: np.ndarray) -> float:
    """The per-step factor rho of a least-squares fit log curve_k ~ log C + k log rho over the
    finite positive values: < 1 vanishing, > 1 exploding. NaN with fewer than two points."""
    k = np.arange(len(curve))
    ok = np.isfinite(curve) & (curve > 0)
    if ok.sum() < 2:
        return float("nan")
    slope = np.polyfit(k[ok], np.log(curve[ok]), 1)[0]
    return float(np.exp(slope))


@dataclass
class Diagnosis:
    mode: str
    loss: float
    lengths: np.ndarray                           # (B,) input order
    state_grads: dict[str, StateGrads]
    jacobians: dict[str, JacobianNorms] | None
    grad_norms: dict[str, float]
    spectrum: dict

    def dh_norms(self, key: str = "l0") -> np.ndarray:
        """(T, B) ||dL/dh_t|| per step and row."""
        return np.linalg.norm(self.state_grads[key].h, axis=2)

    def curves(self) -> dict[str, dict[str, np.ndarray]]:
        """Per layer/direction: "dh" (and "dc", "jacobian", "jacobian_h") by distance, (T,)."""
        out = {}
        for key, sg in self.state_grads.items():
            rev = key.endswith("_reverse")
            cur = {"dh": by_distance(np.linalg.norm(sg.h, axis=2), self.lengths, rev)}
            if sg.c is not None:
                cur["dc"] = by_distance(np.linalg.norm(sg.c, axis=2), self.lengths, rev)
            if self.jacobians is not None:
                cur["jacobian"] = by_distance(self.jacobians[key].state, self.lengths, rev)
                cur["jacobian_h"] = by_distance(self.jacobians[key].h, self.lengths, rev)
            out[key] = cur
        return out

    def summary(self) -> dict:
        """JSON-ready: loss, curves by distance, their per-step decay rates, gradient norms,
        spectra (NaN becomes null)."""
        curves = self.curves()
        clean = lambda a: [None if not math.isfinite(v) else float(v) for v in a]
        return {"mode": self.mode, "loss": self.loss,
                "curves": {k: {n: clean(v) for n, v in c.items()} for k, c in curves.items()},
                "decay_rate": {k: {n: _none(decay_rate(v)) for n, v in c.items()} for k, c in curves.items()},
                "grad_norms": self.grad_norms, "spectrum": self.spectrum}


def _none(x: float):
    return x if math.isfinite(x) else None


def diagnose_layer(layer: Recurrent, cache: RecurrentCache, d_output=None, d_final=None,
                   grads=None, loss: float = float("nan"), jacobian: bool = True,
                   jacobian_rows: int | None = 8, ord=2) -> Diagnosis:
    """Everything for one recurrent layer, given its forward cache and upstream gradients."""
    B = len(cache.packing.lengths)
    rows = None if jacobian_rows is None else np.arange(min(jacobian_rows, B))
    lengths = cache.packing.lengths
    lengths = lengths if cache.packing.inverse is None else lengths[cache.packing.inverse]
    return Diagnosis(layer.config.mode, float(loss), lengths,
                     state_gradients(layer, cache, d_output, d_final),
                     jacobian_norms(layer, cache, rows, ord) if jacobian else None,
                     grad_norms(grads or {}, layer.config.mode), weight_spectrum(layer))


def diagnose(model, batch, jacobian: bool = True, jacobian_rows: int | None = 8, ord=2,
             **kwargs) -> Diagnosis:
    """Run ``model.loss_and_grads(batch, **kwargs)`` once and diagnose ``model.rnn`` on that batch.

    E.g. ``diagnose(regressor, RegressorBatch(x, y))`` or ``diagnose(classifier,
    ClassifierBatch(ids, lengths, labels), training=False)``. Jacobian norms are computed for the
    first ``jacobian_rows`` rows (None: all; they cost a (S, S) product per step and row).
    """
    seen = {}
    with model.rnn.listening(lambda cache, d_output, d_final: seen.update(
            cache=cache, d_output=d_output, d_final=d_final)):
        result = model.loss_and_grads(batch, **kwargs)
    if "cache" not in seen:
        raise ValueError(f"{type(model).__name__}.loss_and_grads did not call model.rnn.backward")
    return diagnose_layer(model.rnn, seen["cache"], seen["d_output"], seen["d_final"], result.grads,
                          result.loss, jacobian, jacobian_rows, ord)


def format_diagnosis(d: Diagnosis, distances=(0, 1, 2, 5, 10, 20, 50, 100, 200, 400)) -> str:
    """A plain-text report: norms at some distances, decay rates, spectra, gradient norms."""
    lines = [f"{d.mode}: loss {d.loss:.6g}"]
    for key, cur in d.curves().items():
        ks = [k for k in distances if k < len(cur["dh"])]
        lines.append(f"\n[{key}] distance k from the loss:  " + "  ".join(f"{k:>9d}" for k in ks))
        for name, v in cur.items():
            lines.append(f"  {name:<12s} {'':19s}" + "  ".join(f"{v[k]:9.2e}" for k in ks)
                         + f"   rate/step {decay_rate(v):.4f}")
    lines.append("\nweight_hh spectrum (per gate block):   spectral radius   sigma_max")
    for name, blocks in d.spectrum.items():
        for g, s in blocks.items():
            rad = s.get("spectral_radius")
            lines.append(f"  {name}[{g}]".ljust(40) + (f"{rad:14.4f}" if rad is not None else " " * 14)
                         + f"  {s['sigma_max']:10.4f}")
    if d.grad_norms:
        lines.append("\ngradient norms:")
        lines += [f"  {n:<38s} {v:.4e}" for n, v in d.grad_norms.items()]
    return "\n".join(lines)


# ---- during training ------------------------------------------------------------------------------

class GradientRecorder:
    """Call it every step; every ``every``-th step it diagnoses the batch and logs one record.

        recorder = record_every(50, out_dir / "metrics.jsonl")
        def step_fn(batch):
            recorder(trainer.state.global_step, model, batch)   # dict or None
            return model.loss_and_grads(batch)

    A record is ``{"event": "gradients", "step": s, **Diagnosis.summary()}``, appended as one JSON
    line (the Trainer's metrics.jsonl format) and kept in ``records``. The diagnosis runs its own
    forward and backward, so it does not touch the step's gradients (it does draw dropout masks).
    """

    def __init__(self, every: int, path: str | Path | None = None, jacobian: bool = False,
                 jacobian_rows: int = 4):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every, self.path = every, None if path is None else Path(path)
        self.jacobian, self.jacobian_rows = jacobian, jacobian_rows
        self.records: list[dict] = []

    def __call__(self, step: int, model, batch, **kwargs) -> dict | None:
        if step % self.every:
            return None
        d = diagnose(model, batch, jacobian=self.jacobian, jacobian_rows=self.jacobian_rows, **kwargs)
        record = {"event": "gradients", "step": int(step), **d.summary()}
        self.records.append(record)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        return record


def record_every(n: int, path: str | Path | None = None, **kwargs) -> GradientRecorder:
    """A ``GradientRecorder`` that records every n-th step (see its docstring)."""
    return GradientRecorder(n, path, **kwargs)


def read_records(path: str | Path, event: str = "gradients") -> list[dict]:
    """The records of one event type from a metrics.jsonl file, in order."""
    with open(path, encoding="utf-8") as f:
        return [r for r in map(json.loads, filter(str.strip, f)) if r.get("event") == event]


# ---- plots ---------------------------------------------------------------------------------------

def _figure(figsize=(7, 4.5)):
    """A matplotlib Figure without pyplot (``bptt.plots.figure``)."""
    from .plots import figure
    return figure(figsize)


def plot_distance(curves: dict[str, np.ndarray], path: str | Path, title: str = "",
                  ylabel: str = "||dL/dh_{T-k}||") -> Path:
    """One line per label: a norm (by distance k, (T,)) on a log scale against k."""
    fig = _figure()
    ax = fig.subplots()
    for label, v in curves.items():
        v = np.asarray(v, dtype=F64)
        ok = np.isfinite(v) & (v > 0)
        ax.semilogy(np.arange(len(v))[ok], v[ok], label=f"{label} (x{decay_rate(v):.3f}/step)")
    ax.set_xlabel("distance k from the loss (steps back)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_heatmap(records: list[dict], path: str | Path, key: str = "l0", curve: str = "dh",
                 title: str = "") -> Path:
    """log10 of a recorded curve (distance k across, training step down) from gradient records."""
    if not records:
        raise ValueError("plot_heatmap: no gradient records to plot")
    steps = [r["step"] for r in records]
    rows = [np.array([np.nan if v is None else v for v in r["curves"][key][curve]], F64) for r in records]
    T = max(len(r) for r in rows)
    Z = np.full((len(rows), T), np.nan)
    for i, r in enumerate(rows):
        Z[i, :len(r)] = r
    with np.errstate(divide="ignore", invalid="ignore"):
        Z = np.log10(np.where(Z > 0, Z, np.nan))
    fig = _figure()
    ax = fig.subplots()
    im = ax.imshow(Z, aspect="auto", origin="upper", interpolation="nearest", cmap="viridis",
                   extent=(-0.5, T - 0.5, len(rows) - 0.5, -0.5))
    ax.set_yticks(range(len(rows)), [str(s) for s in steps] if len(rows) <= 20 else None)
    if len(rows) > 20:
        ticks = np.linspace(0, len(rows) - 1, 10).astype(int)
        ax.set_yticks(ticks, [str(steps[i]) for i in ticks])
    ax.set_xlabel("distance k from the loss (steps back)")
    ax.set_ylabel("training step")
    ax.set_title(title or f"log10 ||dL/dh|| ({key})")
    fig.colorbar(im, ax=ax, label="log10 norm")
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_losses(runs: dict[str, dict], path: str | Path, title: str = "", baseline: float | None = None,
                ylim: tuple[float, float] | None = None) -> Path:
    """Loss curves, log scale. ``runs[label]`` = {"loss": [...] per step (NaN allowed), and
    optionally "clipped": [steps whose gradient was clipped], "diverged_at": step or None}.
    Clipped steps are marked with a dot on the curve; divergence with a cross at the top.
    ``ylim`` fixes the loss axis (values outside are cut off, so one spike does not flatten the
    rest)."""
    fig = _figure()
    ax = fig.subplots()
    for label, run in runs.items():
        loss = np.asarray(run["loss"], dtype=F64)
        steps = np.arange(1, len(loss) + 1)
        clipped = np.asarray(run.get("clipped", []), dtype=int)
        line, = ax.semilogy(steps, loss, lw=1, label=f"{label} ({len(clipped)} clipped)"
                            if "clipped" in run else label)
        if clipped.size:
            ok = clipped[(clipped >= 1) & (clipped <= len(loss))]
            ax.plot(ok, loss[ok - 1], ".", ms=3, color=line.get_color(), alpha=0.6)
        if run.get("diverged_at"):
            finite = loss[np.isfinite(loss)]
            top = finite.max() if finite.size else 1.0
            top = min(top, ylim[1] / 1.5) if ylim else top
            ax.plot([run["diverged_at"]], [top], "x", ms=10, mew=2, color=line.get_color())
            ax.annotate("diverged", (run["diverged_at"], top), textcoords="offset points",
                        xytext=(5, -12), color=line.get_color())
    if baseline is not None:
        ax.axhline(baseline, ls="--", color="gray", lw=1, label=f"baseline {baseline:.3g}")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=110)
    return Path(path)

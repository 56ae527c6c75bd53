"""Finite-difference gradient checks.

For a scalar function ``f`` of an array ``x``, the centred difference

    df/dx_i  ~=  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

has error O(eps^2) from the Taylor series plus O(u / eps) from rounding (u = 1.1e-16 in
float64), so with eps = 1e-6 it agrees with an exact gradient to about 1e-9 relative. Checks are
meaningful only in float64.

The error reported for a whole tensor is

    rel_error(a, n) = max_i |a_i - n_i| / max(max_i |a_i|, max_i |n_i|)

which, unlike an element-wise ratio, does not blow up where a gradient is legitimately ~0.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from .sparse import SparseRows, as_dense


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6,
                   indices: np.ndarray | None = None) -> np.ndarray:
    """Centred-difference gradient of ``f()`` with respect to the array ``x``.

    ``x`` is perturbed in place, one element at a time, and restored. ``indices`` (flat positions)
    limits the check to some elements; the others are returned as NaN.
    """
    if x.dtype != np.float64:
        raise TypeError(f"finite differences need float64, got {x.dtype}")
    flat = x.reshape(-1)  # a view: x must be contiguous
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_grad needs a contiguous array")
    grad = np.full(x.size, np.nan)
    for i in (range(x.size) if indices is None else indices):
        old = flat[i]
        flat[i] = old + eps
        f_plus = f()
        flat[i] = old - eps
        f_minus = f()
        flat[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad.reshape(x.shape)


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(max |a|, max |b|); 0.0 when both are exactly zero."""
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    return 0.0 if scale == 0 else float(np.max(np.abs(a - b)) / scale)


def check_grads(f: Callable[[], float], arrays: Mapping[str, np.ndarray],
                grads: Mapping[str, np.ndarray | SparseRows], eps: float = 1e-6,
                max_elements: int | None = None, seed: int = 0) -> dict[str, float]:
    """Relative error between ``grads`` and finite differences of ``f`` for every array.

    ``arrays`` are the inputs of ``f`` that are perturbed (parameters, inputs, initial states);
    ``grads`` their analytic gradients under the same names. With ``max_elements``, a random
    subset of that many elements per array is checked (seeded). Returns ``{name: rel_error}``.
    """
    rng = np.random.default_rng(seed)
    errors = {}
    for name, x in arrays.items():
        if name not in grads:
            raise KeyError(f"no analytic gradient for {name!r}")
        analytic = as_dense(grads[name])
        if analytic.shape != x.shape:
            raise ValueError(f"gradient of {name!r} has shape {analytic.shape}, expected {x.shape}")
        idx = None
        if max_elements is not None and x.size > max_elements:
            idx = np.sort(rng.choice(x.size, size=max_elements, replace=False))
        numeric = numerical_grad(f, x, eps, idx)
        chosen = slice(None) if idx is None else idx
        errors[name] = rel_error(analytic.reshape(-1)[chosen], numeric.reshape(-1)[chosen])
    return errors


def check_cell(mode: str, input_size: int = 3, hidden_size: int = 4, batch: int = 3, seed: int = 0,
               eps: float = 1e-6) -> dict[str, float]:
    """A cell's ``step_backward`` against finite differences of its ``step_forward``, one step.

    On random non-zero float64 parameters (uniform in (-0.8, 0.8): every bias and extra vector
    too), input x_t (B, In) and state, the loss L = sum_k sum(w_k * s_k) over the parts of the
    new state with random weights w_k. Returns {name: rel_error} for x, every state part and
    every parameter (``U``, ``W``, ``b_ih``, ``b_hh``, ``extra.<name>``). A correct backward gives
    errors near 1e-9; anything above 1e-6 is a wrong derivative.
    """
    from .cells import Params, get_cell
    cell = get_cell(mode)
    rng = np.random.default_rng(seed)
    G, H, B = cell.gates * hidden_size, hidden_size, batch

    def u(*shape):
        return rng.uniform(-0.8, 0.8, shape)

    params = Params(u(G, input_size), u(G, H) if cell.recurrent else None, u(G),
                    u(G) if cell.recurrent else None, None,
                    {name: u(len(blocks) * H) for name, blocks in cell.extra.items()} or None)
    x = rng.standard_normal((B, input_size))
    state = tuple(rng.standard_normal((B, H)) for _ in cell.states)
    w = tuple(rng.standard_normal((B, H)) for _ in cell.states)

    def loss() -> float:
        new, _ = cell.step_forward(x, state, params)
        return float(sum(np.sum(s * wk) for s, wk in zip(new, w)))

    _, cache = cell.step_forward(x, state, params)
    dx, d_state, d_params = cell.step_backward(w, cache)
    arrays = {"x": x, **{f"state.{n}": s for n, s in zip(cell.states, state)}}
    grads = {"x": dx, **{f"state.{n}": d for n, d in zip(cell.states, d_state)}}
    for name in ("U", "W", "b_ih", "b_hh"):
        if getattr(params, name) is not None:
            arrays[name], grads[name] = getattr(params, name), getattr(d_params, name)
    for name in cell.extra:
        arrays[f"extra.{name}"], grads[f"extra.{name}"] = params.extra[name], d_params.extra[name]
    return check_grads(loss, arrays, grads, eps)


def check_layer(layer, T: int = 5, batch: int = 3, lengths=None, training: bool = False,
                seed: int = 0, eps: float = 1e-6, max_elements: int | None = 40) -> dict[str, float]:
    """A whole ``bptt.Recurrent`` (float64: stacking, directions, packing and the cell's BPTT)
    against finite differences: L = sum(w * output) + sum(w_s * final state) with random w, on
    random input, initial state and (unsorted) ``lengths``. With ``training`` and dropout the
    same masks are drawn for every evaluation. Returns {name: rel_error} for the input, the
    initial state and every parameter (``max_elements`` of each, chosen at random)."""
    from .state import State
    c = layer.config
    if layer.dtype != np.float64:
        raise TypeError(f"check_layer needs a float64 layer (dtype='float64'), got {layer.dtype}")
    rng = np.random.default_rng(seed)
    L, P = c.num_layers * c.directions, c.state_size
    sizes = (P, c.hidden_size)[:layer.cell.num_states]
    x = rng.standard_normal((T, batch, c.input_size))
    state0 = tuple(rng.standard_normal((L, batch, n)) for n in sizes)
    w_out = rng.standard_normal((T, batch, c.directions * P))
    w_final = tuple(rng.standard_normal((L, batch, n)) for n in sizes)
    if lengths is not None:
        w_out *= (np.arange(T)[:, None] < np.asarray(lengths)[None, :])[..., None]
    if c.batch_first:
        x, w_out = x.transpose(1, 0, 2).copy(), w_out.transpose(1, 0, 2).copy()
    generator = layer.dropout_rng.bit_generator.state

    def run():
        layer.dropout_rng.bit_generator.state = generator          # the same dropout masks
        return layer.forward(x, State(*state0), lengths, training=training)

    def loss() -> float:
        out, final, _ = run()
        return float(np.sum(out * w_out) + sum(np.sum(f * wk) for f, wk in zip(final.arrays(), w_final)))

    _, _, cache = run()
    dx, d_state0, grads = layer.backward(cache, w_out, State(*w_final))
    arrays = {"x": x, **{f"state0.{k}": s for k, s in enumerate(state0)}, **layer.params}
    grads = {"x": dx, **{f"state0.{k}": d for k, d in enumerate(d_state0.arrays())}, **grads}
    return check_grads(loss, arrays, grads, eps, max_elements, seed)

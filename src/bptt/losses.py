r"""Losses, each returning ``(loss, dpred)``: the scalar and its exact gradient.

Nothing is clipped here: a loss that clips its gradient no longer returns the derivative of
what it returns, and every gradient check downstream breaks. Clip in the optimizer.

Softmax cross-entropy. For logits z (..., C) and targets y (...), with p = softmax(z) and
log p computed as ``z - max(z) - log sum exp(z - max(z))`` (never overflows: the largest
exponent is 0):

    a_nc    = (1 - eps) w_{y_n} [c = y_n]  +  (eps / C) w_c       target weights of step n
    loss_n  = - sum_c a_nc log p_nc                                (eps = label_smoothing)
    loss    = sum_n m_n loss_n / D,   D = sum_n m_n w_{y_n}  ("mean")  or  1  ("sum")

with m the mask (1 = the step counts) and w the class weights (all 1 by default). This is
``torch.nn.functional.cross_entropy`` with its weighted mean. The gradient is

    dloss/dz_nc = m_n (A_n p_nc - a_nc) / D,   A_n = sum_c a_nc = (1 - eps) w_{y_n} + (eps/C) sum_c w_c

which without weights or smoothing is the familiar ``m_n (p_n - onehot(y_n)) / D``.

Mean squared error. ``loss = sum_i m_i (pred_i - target_i)^2 / D``, D = the number of counted
elements ("mean") or 1 ("sum"); ``dpred = 2 m (pred - target) / D``.
"""
from __future__ import annotations

import numpy as np


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(z) along ``axis``, as z - max - log sum exp(z - max)."""
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(z - max) / sum exp(z - max) along ``axis``."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _counted(mask: np.ndarray | None, shape: tuple[int, ...], who: str) -> np.ndarray:
    """The 0/1 mask as bool of ``shape`` (all True without a mask)."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"{who}: mask must have shape {shape}, got {mask.shape}")
    if mask.dtype != bool and not np.all((mask == 0) | (mask == 1)):
        raise ValueError(f"{who}: mask must hold only 0 and 1 (or bool), got values "
                         f"{np.unique(mask[(mask != 0) & (mask != 1)])[:5].tolist()}")
    return mask.astype(bool)


def _check_reduction(reduction: str, who: str) -> None:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{who}: reduction must be 'mean' or 'sum', got {reduction!r}")


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None,
                          reduction: str = "mean", class_weights: np.ndarray | None = None,
                          label_smoothing: float = 0.0) -> tuple[float, np.ndarray]:
    """Cross-entropy of integer targets under softmax(logits), and d loss / d logits.

    logits (..., C); targets (...) int in [0, C): (B, C) with (B,) for one label per sequence,
    (T, B, C) with (T, B) for one per time step. mask (...) 0/1 or bool: only steps with 1 count,
    and the targets of the others are never read (padding may hold any value).
    class_weights (C,) weigh each target class, and "mean" divides by the summed weights of the
    counted targets (as PyTorch). Returns (loss, dlogits (..., C)).
    """
    who = "softmax_cross_entropy"
    _check_reduction(reduction, who)
    logits, targets = np.asarray(logits), np.asarray(targets)
    C = logits.shape[-1]
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"{who}: targets must have shape logits.shape[:-1] = {logits.shape[:-1]}, "
                         f"got {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"{who}: targets must be integer class ids, got dtype {targets.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{who}: label_smoothing must be in [0, 1], got {label_smoothing}")
    counted = _counted(mask, targets.shape, who)
    bad = counted & ((targets < 0) | (targets >= C))
    if bad.any():
        where = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
        raise ValueError(f"{who}: targets{list(map(int, where))} = {int(targets[where])} is "
                         f"outside the valid range [0, {C - 1}] for C = {C} classes")
    w = np.ones(C, logits.dtype) if class_weights is None else \
        np.asarray(class_weights, dtype=logits.dtype)                    # (C,)
    if w.shape != (C,):
        raise ValueError(f"{who}: class_weights must have shape ({C},), got {w.shape}")

    z = logits.reshape(-1, C)                                            # (N, C)
    m = counted.reshape(-1)                                              # (N,)
    y = np.where(m, targets.reshape(-1), 0)                              # (N,) safe to index
    rows = np.arange(z.shape[0])
    logp = log_softmax(z)                                                # (N, C)
    w_y = w[y] * m                                                       # (N,) 0 where masked
    eps = label_smoothing
    D = w_y.sum() if reduction == "mean" else 1.0
    if D == 0:
        raise ValueError(f"{who}: 'mean' over zero counted targets (empty mask or zero weights) "
                         f"is undefined")

    loss = (1 - eps) * np.dot(w_y, -logp[rows, y])                       # sum_n m_n a_ny (-log p)
    if eps:
        loss += eps / C * np.dot(m, -(logp @ w))
    A = (1 - eps) * w_y + (eps / C) * w.sum() * m                        # (N,)
    dz = np.exp(logp) * A[:, None]                                       # (N, C) A_n p_nc
    dz[rows, y] -= (1 - eps) * w_y
    if eps:
        dz -= (eps / C) * np.outer(m, w).astype(dz.dtype, copy=False)
    dz /= D
    return float(loss / D), dz.reshape(logits.shape)


def mse(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None,
        reduction: str = "mean") -> tuple[float, np.ndarray]:
    """Mean (or summed) squared error and d loss / d pred.

    pred, target (...) same shape. mask 0/1 or bool, shaped like pred or like its leading dims
    (e.g. (T, B) for pred (T, B, D): a masked step drops all D of its elements). "mean" divides
    by the number of counted elements, i.e. by pred.size without a mask (as PyTorch).
    """
    who = "mse"
    _check_reduction(reduction, who)
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"{who}: pred and target must have the same shape, got {pred.shape} "
                         f"and {target.shape}")
    if mask is not None and np.ndim(mask) < pred.ndim:
        counted = _counted(mask, pred.shape[:np.ndim(mask)], who)
        counted = np.broadcast_to(counted.reshape(counted.shape + (1,) * (pred.ndim - counted.ndim)),
                                  pred.shape)
    else:
        counted = _counted(mask, pred.shape, who)
    D = int(np.count_nonzero(counted)) if reduction == "mean" else 1
    if D == 0:
        raise ValueError(f"{who}: 'mean' over zero counted elements (empty mask) is undefined")
    diff = np.where(counted, pred - target, 0)                           # (...) 0 where masked
    return float(np.vdot(diff, diff) / D), (2 / D) * diff

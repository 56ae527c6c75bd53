r"""Optimizers, gradient clipping and learning-rate schedules over a flat ``{name: array}`` mapping.

Parameters are ``params: dict[str, np.ndarray]`` with PyTorch names (``weight_ih_l0``); gradients
are a mapping with the same keys whose values are arrays of the same shape, ``SparseRows`` (from
embedding lookups), or ``None``. A parameter whose gradient is missing or ``None`` is skipped for
that step, state and step count included, as ``torch.optim`` skips ``p.grad is None``.

Every ``step`` updates the arrays of ``params`` in place (the layers hold the same arrays) and
keeps their dtype; gradients of another dtype are cast to the parameter's. The equations are those
of ``torch.optim`` 2.13, with g_t the gradient, θ the parameter, γ the learning rate ``lr``,
λ ``weight_decay``, t the parameter's step count::

    SGD      g ← g + λθ;  b ← μb + (1−τ)g (b₁ = g);  g ← g + μb (nesterov) or b;  θ ← θ − γg
    Adagrad  g ← g + λθ;  γ̃ = γ / (1 + (t−1)η);  s ← s + g²;  θ ← θ − γ̃ g / (√s + ε)
    RMSprop  g ← g + λθ;  v ← αv + (1−α)g²;  ṽ = v − ḡ² (centered, ḡ ← αḡ + (1−α)g) or v
             b ← μb + g/(√ṽ + ε), θ ← θ − γb  (μ > 0)   or   θ ← θ − γ g/(√ṽ + ε)
    Adam     g ← g + λθ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  v̂ = max(v̂, v) (amsgrad) or v
             θ ← θ − γ/(1−β₁ᵗ) · m / (√v̂ / √(1−β₂ᵗ) + ε)
    AdamW    Adam with θ ← θ(1 − γλ) in place of g ← g + λθ

Sparse gradients: ``SGD`` with ``momentum == 0`` and ``weight_decay == 0`` applies a
``SparseRows`` gradient to the touched rows only, ``θ[rows] −= γ·values`` (bit-for-bit the dense
update, since the other rows would subtract zero). Every other case densifies with ``as_dense``,
so results are identical to torch's dense update: weight decay, momentum and the moment averages
change untouched rows too.

Per-parameter learning rates (torch's parameter groups): a ``ScaledGrads`` mapping carries a
factor per parameter, and ``step`` updates parameter n with γ · factor_n (``lr`` itself never
changes). ``LayerwiseLR`` builds those factors for ULMFiT's fine-tuning: discriminative rates per
layer group, the slanted triangular schedule and gradual unfreezing.

Steps write with ``out=`` into the state and two scratch arrays per (shape, dtype), so after the
first step (which creates the state) a step makes no parameter-sized temporaries, except
``as_dense`` of a sparse gradient and a cast of a gradient of another dtype.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from bptt.sparse import SparseRows, as_dense

Params = dict[str, np.ndarray]
Grad = np.ndarray | SparseRows
Grads = Mapping[str, Grad | None]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


# ---------------------------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Optimizer:
    """Base class: per-parameter state, ``step``, and a flat, safetensors-ready ``state_dict``.

    ``state[name]`` holds the arrays of one parameter under torch's names (``momentum_buffer``,
    ``sum``, ``square_avg``, ``exp_avg``, ...), created at the parameter's first gradient.
    ``steps`` counts calls to ``step``.
    """

    params: Params = field(repr=False)
    lr: float
    state: dict[str, dict[str, np.ndarray]] = field(init=False, repr=False, default_factory=dict)
    steps: int = field(init=False, default=0)
    _scratch: dict[tuple, np.ndarray] = field(init=False, repr=False, default_factory=dict)

    state_keys: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name, p in self.params.items():
            if not (isinstance(p, np.ndarray) and np.issubdtype(p.dtype, np.floating)):
                raise TypeError(f"params[{name!r}] must be a floating np.ndarray, got {type(p).__name__}"
                                f" of dtype {getattr(p, 'dtype', None)}")
        self.state = {name: {} for name in self.params}
        _require(self.lr >= 0, f"Invalid learning rate: {self.lr} (expected lr >= 0)")
        self._check()

    def _check(self) -> None:
        """Validate hyperparameters (overridden by subclasses)."""

    def _update(self, p: np.ndarray, g: Grad, s: dict[str, np.ndarray], lr: float) -> None:
        raise NotImplementedError

    def step(self, grads: Grads) -> None:
        """Update every parameter that has a gradient in ``grads``, in place. A ``ScaledGrads``
        steps parameter ``name`` with the learning rate ``lr * grads.lr_scale.get(name, 1)``."""
        scale = getattr(grads, "lr_scale", {})
        for name, p in self.params.items():
            g = grads.get(name)
            if g is None:
                continue
            if tuple(g.shape) != p.shape:
                raise ValueError(f"grads[{name!r}] has shape {tuple(g.shape)}, expected {p.shape} "
                                 f"(the shape of params[{name!r}])")
            if g.dtype != p.dtype:
                g = (SparseRows(g.indices, g.values.astype(p.dtype), g.shape)
                     if isinstance(g, SparseRows) else g.astype(p.dtype))
            self._update(p, g, self.state[name], self.lr * scale.get(name, 1.0))
        self.steps += 1

    def _buffers(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two scratch arrays shaped like ``p``, shared by parameters of the same shape and dtype."""
        key = (p.shape, p.dtype.str)
        if key not in self._scratch:
            self._scratch[key] = np.empty((2, *p.shape), dtype=p.dtype)
        tmp = self._scratch[key]
        return tmp[0], tmp[1]

    @staticmethod
    def _l2(p: np.ndarray, g: np.ndarray, weight_decay: float, out: np.ndarray) -> np.ndarray:
        """g + λθ written to ``out`` (``g`` itself when λ = 0); the caller's gradient is untouched."""
        if weight_decay == 0:
            return g
        np.multiply(p, weight_decay, out=out)
        return np.add(g, out, out=out)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat ``{key: array}``: ``step`` (calls to ``step``), ``lr``, and ``<state>.<param name>``
        such as ``exp_avg.weight_ih_l0`` (copies, so later steps do not change it)."""
        out = {"step": np.array(self.steps, dtype=np.int64), "lr": np.array(self.lr, dtype=np.float64)}
        for name, s in self.state.items():
            for key, value in s.items():
                out[f"{key}.{name}"] = value.copy()
        return out

    def load_state_dict(self, d: Mapping[str, np.ndarray]) -> None:
        """Restore what ``state_dict`` returned, so that training resumes exactly (``lr`` too)."""
        for key in ("step", "lr"):
            if key not in d:
                raise KeyError(f"optimizer state_dict has no {key!r} entry; keys: {sorted(d)}")
        state: dict[str, dict[str, np.ndarray]] = {name: {} for name in self.params}
        for full_key, value in d.items():
            if full_key in ("step", "lr"):
                continue
            key, _, name = full_key.partition(".")
            if key not in self.state_keys or name not in self.params:
                raise KeyError(f"unexpected optimizer state {full_key!r} for {type(self).__name__}: "
                               f"expected <{'|'.join(self.state_keys)}>.<one of {sorted(self.params)}>")
            p = self.params[name]
            shape, dtype = ((), np.int64) if key == "step" else (p.shape, p.dtype)
            value = np.asarray(value)
            if value.shape != shape:
                raise ValueError(f"optimizer state {full_key!r} has shape {value.shape}, expected {shape}")
            state[name][key] = np.array(value, dtype=dtype)
        self.state = state
        self.steps = int(d["step"])
        self.lr = float(d["lr"])


@dataclass(eq=False)
class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum μ, dampening τ, Nesterov and L2 weight decay λ.

        g_t = ∇θ + λ θ_{t−1}
        b_t = μ b_{t−1} + (1 − τ) g_t          (b_1 = g_t)
        g_t = g_t + μ b_t   if nesterov   else   b_t          (only when μ ≠ 0)
        θ_t = θ_{t−1} − γ g_t

    State: ``momentum_buffer`` b, shaped like θ (only when μ ≠ 0). With μ = 0 and λ = 0 a
    ``SparseRows`` gradient updates only its rows: θ[rows] −= γ · values.
    """

    lr: float = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False

    state_keys: ClassVar[tuple[str, ...]] = ("momentum_buffer",)

    def _check(self) -> None:
        _require(self.momentum >= 0, f"Invalid momentum value: {self.momentum}")
        _require(self.weight_decay >= 0, f"Invalid weight_decay value: {self.weight_decay}")
        _require(not self.nesterov or (self.momentum > 0 and self.dampening == 0),
                 "Nesterov momentum requires a momentum and zero dampening")

    def _update(self, p: np.ndarray, g: Grad, s: dict[str, np.ndarray], lr: float) -> None:
        if isinstance(g, SparseRows) and self.momentum == 0 and self.weight_decay == 0:
            p[g.indices] -= lr * g.values                     # (K, *shape[1:]) rows only
            return
        tmp, tmp2 = self._buffers(p)
        g = self._l2(p, as_dense(g), self.weight_decay, out=tmp)   # g + λθ
        if self.momentum != 0:
            b = s.get("momentum_buffer")
            if b is None:
                b = s["momentum_buffer"] = g.copy()                 # b_1 = g_1
            else:
                b *= self.momentum                                  # b ← μb + (1−τ)g
                b += np.multiply(g, 1 - self.dampening, out=tmp2)
            g = np.add(g, np.multiply(b, self.momentum, out=tmp2), out=tmp2) if self.nesterov else b
        p -= np.multiply(g, lr, out=tmp2)                      # θ ← θ − γg


@dataclass(eq=False)
class Adagrad(Optimizer):
    r"""Adagrad with learning-rate decay η, L2 weight decay λ and initial accumulator s_0.

        g_t = ∇θ + λ θ_{t−1}
        γ̃_t = γ / (1 + (t − 1) η)
        s_t = s_{t−1} + g_t²                       (s_0 = initial_accumulator_value)
        θ_t = θ_{t−1} − γ̃_t g_t / (√s_t + ε)

    State: ``step`` t (0-d int64) and ``sum`` s, shaped like θ.
    """

    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10

    state_keys: ClassVar[tuple[str, ...]] = ("step", "sum")

    def _check(self) -> None:
        _require(self.lr_decay >= 0, f"Invalid lr_decay value: {self.lr_decay}")
        _require(self.weight_decay >= 0, f"Invalid weight_decay value: {self.weight_decay}")
        _require(self.initial_accumulator_value >= 0,
                 f"Invalid initial_accumulator_value value: {self.initial_accumulator_value}")
        _require(self.eps >= 0, f"Invalid epsilon value: {self.eps}")

    def _update(self, p: np.ndarray, g: Grad, s: dict[str, np.ndarray], lr: float) -> None:
        if not s:
            s["step"] = np.zeros((), dtype=np.int64)
            s["sum"] = np.full_like(p, self.initial_accumulator_value)
        tmp, tmp2 = self._buffers(p)
        s["step"] += 1
        t = int(s["step"])
        g = self._l2(p, as_dense(g), self.weight_decay, out=tmp)    # g + λθ
        clr = lr / (1 + (t - 1) * self.lr_decay)               # γ̃_t
        s["sum"] += np.multiply(g, g, out=tmp2)                      # s ← s + g²
        std = np.sqrt(s["sum"], out=tmp2)
        std += self.eps                                              # √s + ε
        step = np.divide(g, std, out=tmp2)
        p -= np.multiply(step, clr, out=tmp2)                        # θ ← θ − γ̃ g/(√s + ε)


@dataclass(eq=False)
class RMSprop(Optimizer):
    r"""RMSprop with smoothing α, momentum μ, the centered variant and L2 weight decay λ.

        g_t = ∇θ + λ θ_{t−1}
        v_t = α v_{t−1} + (1 − α) g_t²
        ḡ_t = α ḡ_{t−1} + (1 − α) g_t,   ṽ_t = v_t − ḡ_t²      if centered,   else ṽ_t = v_t
        b_t = μ b_{t−1} + g_t / (√ṽ_t + ε),   θ_t = θ_{t−1} − γ b_t          if μ > 0
        θ_t = θ_{t−1} − γ g_t / (√ṽ_t + ε)                                  otherwise

    State (zeros at first): ``square_avg`` v, ``grad_avg`` ḡ (centered), ``momentum_buffer`` b
    (μ > 0), each shaped like θ.
    """

    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False

    state_keys: ClassVar[tuple[str, ...]] = ("square_avg", "grad_avg", "momentum_buffer")

    def _check(self) -> None:
        _require(self.eps >= 0, f"Invalid epsilon value: {self.eps}")
        _require(self.momentum >= 0, f"Invalid momentum value: {self.momentum}")
        _require(self.weight_decay >= 0, f"Invalid weight_decay value: {self.weight_decay}")
        _require(self.alpha >= 0, f"Invalid alpha value: {self.alpha}")

    def _update(self, p: np.ndarray, g: Grad, s: dict[str, np.ndarray], lr: float) -> None:
        if not s:
            s["square_avg"] = np.zeros_like(p)
            if self.centered:
                s["grad_avg"] = np.zeros_like(p)
            if self.momentum > 0:
                s["momentum_buffer"] = np.zeros_like(p)
        tmp, tmp2 = self._buffers(p)
        g = self._l2(p, as_dense(g), self.weight_decay, out=tmp)     # g + λθ
        v = s["square_avg"]
        v *= self.alpha                                               # v ← αv + (1−α)g²
        v += np.multiply(np.multiply(g, 1 - self.alpha, out=tmp2), g, out=tmp2)
        if self.centered:
            gbar = s["grad_avg"]                                      # ḡ ← ḡ + (1−α)(g − ḡ)
            gbar += np.multiply(np.subtract(g, gbar, out=tmp2), 1 - self.alpha, out=tmp2)
            avg = np.subtract(v, np.multiply(gbar, gbar, out=tmp2), out=tmp2)   # ṽ = v − ḡ²
            avg = np.sqrt(avg, out=tmp2)
        else:
            avg = np.sqrt(v, out=tmp2)
        avg += self.eps                                               # √ṽ + ε
        step = np.divide(g, avg, out=tmp2)
        if self.momentum > 0:
            b = s["momentum_buffer"]
            b *= self.momentum                                        # b ← μb + g/(√ṽ + ε)
            b += step
            p -= np.multiply(b, lr, out=tmp2)                    # θ ← θ − γb
        else:
            p -= np.multiply(step, lr, out=tmp2)                 # θ ← θ − γ g/(√ṽ + ε)


@dataclass(eq=False)
class Adam(Optimizer):
    r"""Adam (Kingma & Ba) with L2 weight decay λ coupled into the gradient, and AMSGrad.

        g_t = ∇θ + λ θ_{t−1}
        m_t = β₁ m_{t−1} + (1 − β₁) g_t
        v_t = β₂ v_{t−1} + (1 − β₂) g_t²
        v̂_t = max(v̂_{t−1}, v_t)   if amsgrad   else   v_t
        θ_t = θ_{t−1} − γ / (1 − β₁ᵗ) · m_t / (√v̂_t / √(1 − β₂ᵗ) + ε)

    State: ``step`` t (0-d int64), ``exp_avg`` m, ``exp_avg_sq`` v and ``max_exp_avg_sq`` v̂
    (amsgrad), zeros at first, shaped like θ.
    """

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False

    decoupled: ClassVar[bool] = False
    state_keys: ClassVar[tuple[str, ...]] = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def _check(self) -> None:
        _require(self.eps >= 0, f"Invalid epsilon value: {self.eps}")
        for i, beta in enumerate(self.betas):
            _require(0 <= beta < 1, f"Invalid beta parameter at index {i}: {beta} (expected [0, 1))")
        _require(self.weight_decay >= 0, f"Invalid weight_decay value: {self.weight_decay}")

    def _update(self, p: np.ndarray, g: Grad, s: dict[str, np.ndarray], lr: float) -> None:
        beta1, beta2 = self.betas
        if not s:
            s["step"] = np.zeros((), dtype=np.int64)
            s["exp_avg"], s["exp_avg_sq"] = np.zeros_like(p), np.zeros_like(p)
            if self.amsgrad:
                s["max_exp_avg_sq"] = np.zeros_like(p)
        tmp, tmp2 = self._buffers(p)
        s["step"] += 1
        t = int(s["step"])
        g = as_dense(g)
        if self.decoupled:
            p *= 1 - lr * self.weight_decay                      # θ ← θ(1 − γλ)
        else:
            g = self._l2(p, g, self.weight_decay, out=tmp)            # g + λθ
        m, v = s["exp_avg"], s["exp_avg_sq"]
        m += np.multiply(np.subtract(g, m, out=tmp2), 1 - beta1, out=tmp2)  # m ← m + (1−β₁)(g − m)
        v *= beta2                                                    # v ← β₂v + (1−β₂)g²
        v += np.multiply(np.multiply(g, 1 - beta2, out=tmp2), g, out=tmp2)
        if self.amsgrad:
            v = np.maximum(s["max_exp_avg_sq"], v, out=s["max_exp_avg_sq"])  # v̂ = max(v̂, v)
        step_size = lr / (1 - beta1**t)
        denom = np.sqrt(v, out=tmp2)
        denom /= (1 - beta2**t) ** 0.5
        denom += self.eps                                             # √v̂/√(1−β₂ᵗ) + ε
        step = np.divide(m, denom, out=tmp2)
        p -= np.multiply(step, step_size, out=tmp2)                   # θ ← θ − γ/(1−β₁ᵗ) · m/denom


@dataclass(eq=False)
class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter); default λ = 0.01.

        θ_{t−1} ← θ_{t−1} (1 − γλ)
        m_t = β₁ m_{t−1} + (1 − β₁) g_t,   v_t = β₂ v_{t−1} + (1 − β₂) g_t²,   v̂_t as in Adam
        θ_t = θ_{t−1} − γ / (1 − β₁ᵗ) · m_t / (√v̂_t / √(1 − β₂ᵗ) + ε)

    The gradient g_t is the raw gradient (no λθ term). State as in ``Adam``.
    """

    weight_decay: float = 1e-2

    decoupled: ClassVar[bool] = True


# ---------------------------------------------------------------------------------------------
# Gradient norms and clipping
# ---------------------------------------------------------------------------------------------


def _grad_arrays(grads: Grads) -> Iterator[np.ndarray]:
    """The array holding each gradient's entries: the array itself, or ``SparseRows.values``
    (the other rows are zero, so they change no norm and need no scaling or clipping)."""
    for g in grads.values():
        if g is not None:
            yield g.values if isinstance(g, SparseRows) else g


def global_norm(grads: Grads, norm_type: float = 2.0) -> float:
    r"""‖g‖_p over all gradients viewed as one vector: (Σ_k Σ_i |g_ki|^p)^{1/p}, or max |g_ki|
    for p = inf. Gradients that are ``None`` are skipped; no gradients give 0."""
    arrays = list(_grad_arrays(grads))
    if norm_type == math.inf:
        return max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    _require(norm_type > 0, f"norm_type must be > 0 or inf, got {norm_type}")
    if norm_type == 2.0:
        return math.sqrt(sum(float(np.vdot(a, a)) for a in arrays))
    return sum(float(np.sum(np.abs(a) ** norm_type)) for a in arrays) ** (1.0 / norm_type)


def clip_grad_norm(grads: Grads, max_norm: float, norm_type: float = 2.0) -> float:
    r"""Scale all gradients in place so that their global norm is at most ``max_norm``.

        c = max_norm / (‖g‖_p + 10⁻⁶);   g ← c · g   if c < 1

    as ``torch.nn.utils.clip_grad_norm_`` (its clamp of c at 1 is a no-op otherwise; a nan norm
    makes the gradients nan there too). Returns ‖g‖_p before clipping.
    """
    total = global_norm(grads, norm_type)
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:                                     # also true for nan, as in torch
        for a in _grad_arrays(grads):
            a *= coef
    return total


def clip_grad_value(grads: Grads, clip_value: float) -> None:
    """Clamp every gradient entry to [−clip_value, clip_value] in place
    (``torch.nn.utils.clip_grad_value_``)."""
    _require(clip_value >= 0, f"clip_value must be >= 0, got {clip_value}")
    for a in _grad_arrays(grads):
        np.clip(a, -clip_value, clip_value, out=a)


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class LRSchedule:
    """Base class: sets ``opt.lr`` at construction (step 0) and at each ``step()``.

    Like ``torch.optim.lr_scheduler`` the rules are chainable: each step rescales the current
    ``opt.lr``, so the learning rates equal torch's to the last bit. ``state_dict`` holds plain
    numbers (JSON-serialisable); ``load_state_dict`` also sets ``opt.lr`` to the saved one.
    """

    opt: Optimizer = field(repr=False)
    base_lr: float = field(init=False)
    last_step: int = field(init=False, default=0)
    last_lr: float = field(init=False)

    def __post_init__(self) -> None:
        self.base_lr = self.opt.lr
        self.opt.lr = self.last_lr = self._initial_lr(self.opt.lr)

    def _initial_lr(self, lr: float) -> float:
        return lr

    def _next_lr(self, lr: float) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_step += 1
        self.opt.lr = self.last_lr = self._next_lr(self.opt.lr)

    def get_lr(self) -> float:
        """The learning rate set by the last ``step()`` (or by construction)."""
        return self.last_lr

    def state_dict(self) -> dict[str, int | float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "opt"}

    def load_state_dict(self, d: Mapping[str, int | float]) -> None:
        names = {f.name for f in fields(self)} - {"opt"}
        if set(d) != names:
            raise KeyError(f"{type(self).__name__} state_dict needs keys {sorted(names)}, got {sorted(d)}")
        for key, value in d.items():
            setattr(self, key, value)
        self.opt.lr = self.last_lr


@dataclass(eq=False)
class StepLR(LRSchedule):
    """γ_t = γ₀ · gamma^⌊t / step_size⌋: multiply by ``gamma`` every ``step_size`` steps."""

    step_size: int
    gamma: float = 0.1

    def _next_lr(self, lr: float) -> float:
        return lr * self.gamma if self.last_step % self.step_size == 0 else lr


@dataclass(eq=False)
class ExponentialLR(LRSchedule):
    """γ_t = γ₀ · gammaᵗ: multiply by ``gamma`` at every step."""

    gamma: float

    def _next_lr(self, lr: float) -> float:
        return lr * self.gamma


@dataclass(eq=False)
class CosineAnnealingLR(LRSchedule):
    r"""γ_t = η_min + ½ (γ₀ − η_min)(1 + cos(π t / T_max)), continuing as a cosine past T_max.

    Computed as torch does, from the previous rate:
        γ_t = η_min + (γ_{t−1} − η_min) (1 + cos(π t/T)) / (1 + cos(π (t−1)/T)),
    and γ_t = γ_{t−1} + ½(γ₀ − η_min)(1 − cos(π/T)) when (t − 1 − T) mod 2T = 0 (the minimum).
    """

    T_max: int
    eta_min: float = 0.0

    def _next_lr(self, lr: float) -> float:
        t, T, eta_min = self.last_step, self.T_max, self.eta_min
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
        return ((1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - eta_min) + eta_min)


@dataclass(eq=False)
class LinearWarmup(LRSchedule):
    r"""γ_t = γ₀ · (s + (1 − s) · min(t, W) / W): from ``start_factor`` s to 1 over W steps.

    ``torch.optim.lr_scheduler.LinearLR(start_factor=s, end_factor=1, total_iters=W)``, computed
    from the previous rate: γ_t = γ_{t−1} (1 + (1 − s) / (W s + (t − 1)(1 − s))) for t ≤ W.
    """

    warmup_steps: int
    start_factor: float = 1.0 / 3

    def __post_init__(self) -> None:
        _require(0 < self.start_factor <= 1, f"start_factor must be in (0, 1], got {self.start_factor}")
        _require(self.warmup_steps > 0, f"warmup_steps must be > 0, got {self.warmup_steps}")
        super().__post_init__()

    def _initial_lr(self, lr: float) -> float:
        return lr * self.start_factor

    def _next_lr(self, lr: float) -> float:
        t, W, s = self.last_step, self.warmup_steps, self.start_factor
        if t > W:
            return lr
        return lr * (1.0 + (1.0 - s) / (W * s + (t - 1) * (1.0 - s)))


# ---------------------------------------------------------------------------------------------
# Per-parameter learning rates: ULMFiT's fine-tuning steps (Howard & Ruder 2018)
# ---------------------------------------------------------------------------------------------


class ScaledGrads(dict):
    """A gradient mapping that carries a learning-rate factor per parameter: ``Optimizer.step``
    updates parameter n with the rate ``lr * lr_scale.get(n, 1)`` (torch's parameter groups, one
    group per factor). Everything else reads it as the plain mapping it is."""

    def __init__(self, grads: Grads, lr_scale: Mapping[str, float]):
        super().__init__(grads)
        self.lr_scale = dict(lr_scale)


def slanted_triangular(t: int, total: int, cut_fraction: float = 0.1, ratio: float = 32.0) -> float:
    r"""η_t / η_max of the slanted triangular learning rate (Howard & Ruder 2018, eq. 3) at step t
    (0-based) of ``total`` = T:

        cut = max(1, ⌊T · cut_frac⌋)
        p   = t / cut                                     t < cut  (the rise)
              1 − (t − cut) / (cut · (1/cut_frac − 1))    t ≥ cut  (the long decay), at least 0
        η_t = η_max · (1 + p (ratio − 1)) / ratio

    So the rate rises linearly from η_max/ratio to η_max over the first cut steps, then falls
    linearly back to η_max/ratio at step cut/cut_frac ≈ T (and stays there past it).
    """
    cut = max(1, math.floor(total * cut_fraction))
    p = t / cut if t < cut else max(0.0, 1.0 - (t - cut) / (cut * (1.0 / cut_fraction - 1.0)))
    return (1.0 + p * (ratio - 1.0)) / ratio


def layer_depths(names, num_layers: int) -> dict[str, int]:
    """The layer group of each parameter counted from the top: ``fc.*`` (and any other head) 0,
    ``rnn.*_l{k}*`` num_layers − k (the top recurrent layer 1), ``embedding.*`` and
    ``feature_embeddings.*`` num_layers + 1."""
    depths = {}
    for name in names:
        layer = re.search(r"_l(\d+)", name) if name.startswith("rnn.") else None
        if layer:
            depths[name] = num_layers - int(layer[1])
        elif name.startswith(("embedding.", "feature_embeddings.")):
            depths[name] = num_layers + 1
        else:
            depths[name] = 0
    return depths


@dataclass(frozen=True)
class LayerwiseLR:
    r"""ULMFiT's classifier fine-tuning as learning-rate factors per parameter and step:

        factor(n, t) = decay^(−d_n) · s(t) · [d_n ≤ k(t)]

    d_n the layer group of parameter n (``layer_depths``: fc 0, top recurrent layer 1, ...,
    embedding L+1); ``decay`` the discriminative factor (ULMFiT 2.6: each group down trains
    2.6 times slower); s(t) ``slanted_triangular`` over ``total_steps`` (1 when None); k(t) the
    groups trainable at step t: all, or with gradual unfreezing (``steps_per_epoch`` given)
    k = ⌊t / steps_per_epoch⌋, so epoch 1 trains fc alone, epoch 2 also the top layer, and so on.
    A frozen parameter gets no update at all (``apply`` drops its gradient, so it also stays out
    of the clipped norm, and its optimizer state waits, as with torch's requires_grad=False).
    """
    depths: Mapping[str, int]
    decay: float = 1.0
    total_steps: int | None = None
    cut_fraction: float = 0.1
    ratio: float = 32.0
    steps_per_epoch: int | None = None

    def factors(self, t: int) -> dict[str, float]:
        """{parameter: its factor at step t}; 0 for a frozen one."""
        s = 1.0 if self.total_steps is None else slanted_triangular(t, self.total_steps, self.cut_fraction,
                                                                     self.ratio)
        top = math.inf if self.steps_per_epoch is None else t // self.steps_per_epoch
        return {n: (s * self.decay ** -d if d <= top else 0.0) for n, d in self.depths.items()}

    def apply(self, grads: Grads, t: int) -> ScaledGrads:
        """The gradients of step t with their factors, those of frozen parameters left out."""
        factors = self.factors(t)
        return ScaledGrads({n: g for n, g in grads.items() if factors.get(n, 1.0) > 0}, factors)

r"""Adversarial and virtual adversarial training on the embedded sequence (Miyato, Dai &
Goodfellow 2017, "Adversarial Training Methods for Semi-Supervised Text Classification").

The pieces a model needs besides its own forward and backward (``Classifier.loss_and_grads``
puts them together; docs/pretraining.md has the derivation):

    per_example_direction(g, real, eps)   r_b = eps * g_b / ||g_b||_2 over example b's real steps
    kl_and_grad(p, logits)                KL(p || softmax(logits)) per example, mean over B, and
                                          its gradient wrt the logits, p held constant

Adversarial training (``adversarial`` = eps): with e the embedded sequence (T, B, E) and
L(e) the mean cross-entropy of the batch,

    g     = dL/de                                   (T, B, E) the clean backward's input gradient
    r_adv = eps * g_b / ||g_b||_2                   per example, over its real steps
    J     = L(e) + L(e + r_adv)                     r_adv held constant in dJ/dθ

Virtual adversarial training (``virtual_adversarial`` = eps), with p = softmax(z(e)) held constant:

    d     ~ N(0, I) on the real steps,  d_b <- xi * d_b / ||d_b||_2
    g     = d KL(p || softmax(z(e + d))) / dd       one power iteration
    r_vadv = eps * g_b / ||g_b||_2
    J     = L(e) + KL(p || softmax(z(e + r_vadv)))  r_vadv and p held constant in dJ/dθ

The embeddings are not normalised as in the paper (there each row is standardised with the word
frequencies' mean and variance); eps is a length in this model's embedding space, so compare it
with the typical norm of an embedded sequence (sqrt(len * E) * the rows' RMS) when choosing it.
"""
from __future__ import annotations

import numpy as np

from .losses import log_softmax, softmax

VAT_XI = 0.1          # the power iteration's step length, as in Miyato et al.'s code (their embeddings are standardised)


def per_example_direction(g: np.ndarray, real: np.ndarray, eps: float) -> np.ndarray:
    """r (T, B, E): eps * g_b / ||g_b||_2 for each example b, the norm over its real steps
    (``real`` (T, B) bool) and every embedding unit; zero at padding, and for an example whose
    gradient is zero. Each example is first divided by its largest |g| (as Miyato et al.'s code),
    so that squaring cannot overflow or underflow in float32."""
    g = np.where(real[..., None], g, 0.0)                             # (T, B, E)
    scale = np.abs(g).max(axis=(0, 2), keepdims=True)                 # (1, B, 1)
    g = g / np.where(scale > 0, scale, 1.0)
    norm = np.sqrt((g * g).sum(axis=(0, 2), keepdims=True))           # (1, B, 1)
    return (eps * g / np.where(norm > 0, norm, 1.0)).astype(g.dtype)


def kl_and_grad(p: np.ndarray, logits: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean over the B examples of KL(p_b || q_b), dKL/dlogits (B, C)) with q = softmax(logits)
    and p (B, C) a constant:

        KL = (1/B) sum_b sum_c p_bc (log p_bc - log q_bc)       dKL/dz_bc = (q_bc - p_bc) / B
    """
    B = logits.shape[0]
    log_q = log_softmax(logits)                                       # (B, C)
    log_p = np.log(np.where(p > 0, p, 1.0))
    kl = float(np.sum(np.where(p > 0, p * (log_p - log_q), 0.0)) / B)
    return kl, ((softmax(logits) - p) / B).astype(logits.dtype)

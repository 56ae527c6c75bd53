"""Composing a model from layers: one flat ``{name: array}`` mapping with PyTorch module names."""
from __future__ import annotations

import numpy as np


def flat_params(named_layers) -> dict[str, np.ndarray]:
    """{"<prefix>.<name>": array} over (prefix, layer) pairs; the arrays are the layers' own, so
    an optimizer updating the mapping in place updates the layers."""
    return {f"{prefix}.{name}": p for prefix, layer in named_layers for name, p in layer.params.items()}


def prefixed(prefix: str, grads: dict) -> dict:
    """A layer's gradients under the model's names."""
    return {f"{prefix}.{name}": g for name, g in grads.items()}


def dropout_mask(rng: np.random.Generator, shape, p: float, dtype, training: bool) -> np.ndarray | None:
    """Inverted dropout: keep with probability 1-p and scale by 1/(1-p); None if off.

    The mask multiplies the activations in the forward pass and their gradient in the backward.
    """
    if not training or p == 0.0:
        return None
    dtype = np.dtype(dtype)
    return (rng.random(shape) >= p).astype(dtype) / dtype.type(1.0 - p)

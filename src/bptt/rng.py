"""Where layers built without a generator get their initial weights: one process-wide generator.

Like PyTorch's layers, ``bptt.LSTM(64, 128)`` (no ``rng=``) draws fresh weights, different for
every layer built; ``bptt.manual_seed(seed)`` makes the draws reproducible (the same seed gives
the same weights to the same sequence of layers), as ``torch.manual_seed`` does::

    bptt.manual_seed(0)
    a = bptt.LSTM(4, 8)
    b = bptt.LSTM(4, 8)              # different from a
    bptt.manual_seed(0)
    assert np.array_equal(bptt.LSTM(4, 8).params["weight_hh_l0"], a.params["weight_hh_l0"])

Until ``manual_seed`` is called the generator is seeded from the operating system's entropy.
Passing ``rng=np.random.default_rng(seed)`` to a layer bypasses it.
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator that layers built without ``rng=`` draw their weights from."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that layers built without ``rng=`` draw from."""
    return _generator

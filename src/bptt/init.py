r"""Initialisations for a recurrent layer's parameters, applied in place.

A ``Recurrent`` layer starts like PyTorch: every weight and bias drawn from U(-1/sqrt(H), 1/sqrt(H)).
The functions here overwrite some of them afterwards, in place (the optimizer and the model keep
references to the same arrays, so never rebind ``params[name]``). Each W = ``weight_hh_l{l}{sfx}``
(G*H, H) is treated as G square H x H blocks, one per gate (LSTM rows i, f, g, o; GRU r, z, n; the
RNN has one block), because each block multiplies the same h_{t-1} in its own product.

    orthogonal_(layer, gain)    each block of W = gain * Q, Q a random orthogonal matrix
                                (Saxe, McClelland & Ganguli 2014): every singular value is gain, so
                                ||W^k h|| = gain^k ||h|| and a linear RNN neither shrinks nor grows
    identity_(layer, scale)     each block of W = scale * I, biases 0 (the IRNN of Le, Jaitly &
                                Hinton 2015, with ReLU: at the start h_t = h_{t-1} + U x_t, an
                                integrator, and dh_T/dh_t = I on the active units)
    forget_bias_(layer, value)  LSTM: forget-gate bias b_f = bias_ih_f + bias_hh_f = value
                                (Gers et al. 2000; Jozefowicz et al. 2015 recommend 1): f_t starts
                                near sigma(1) = 0.73 instead of 0.5, so the cell keeps more of
                                c_{t-1} and dc_{t-1} = dc_t * f_t fades more slowly.
    scale_(layer, factor)       multiply each W by factor (e.g. to make a ReLU RNN explode)

None of these is applied by default: a fresh layer matches ``torch.nn.RNN / LSTM / GRU`` (PyTorch
has no forget-gate bias option; its LSTM starts with b_f ~ U(-2/sqrt(H), 2/sqrt(H)) like every
other bias). ``apply_init`` runs them by name, for configs and command lines.
"""
from __future__ import annotations

import re

import numpy as np

from .recurrent import Recurrent

INITS = ("default", "orthogonal", "identity")
_HH = re.compile(r"weight_hh_l\d+(_reverse)?$")


def _blocks(layer: Recurrent, name: str) -> np.ndarray:
    """weight_hh (G*H, H) as a (G, H, H) view, one square block per gate."""
    if layer.config.proj_size:
        raise ValueError(f"{name}: this initialisation needs square (H, H) gate blocks; a projecting "
                         f"LSTM's are (H, proj_size) = ({layer.config.hidden_size}, {layer.config.proj_size})")
    H = layer.config.hidden_size
    W = layer.params[name]
    return W.reshape(layer.cell.gates, H, H)


def _hh_names(layer: Recurrent) -> list[str]:
    return [n for n in layer.params if _HH.match(n)]


def orthogonal_matrix(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random n x n orthogonal matrix, uniform (Haar) over the orthogonal group.

    Q from the QR decomposition of a standard normal matrix, with each column's sign fixed by the
    sign of R's diagonal (without that, Q is not uniformly distributed; Mezzadri 2007). This is
    ``torch.nn.init.orthogonal_``'s construction.
    """
    A = rng.standard_normal((n, n))
    Q, R = np.linalg.qr(A)
    return Q * np.sign(np.diag(R))[None, :]


def orthogonal_(layer: Recurrent, gain: float = 1.0, rng: np.random.Generator | None = None) -> None:
    """Every H x H block of every weight_hh = gain * (random orthogonal matrix), in place."""
    rng = np.random.default_rng(0) if rng is None else rng
    for name in _hh_names(layer):
        blocks = _blocks(layer, name)
        for k in range(blocks.shape[0]):
            blocks[k] = gain * orthogonal_matrix(blocks.shape[1], rng)


def identity_(layer: Recurrent, scale: float = 1.0, zero_biases: bool = True) -> None:
    """Every H x H block of every weight_hh = scale * I; all biases 0 unless ``zero_biases=False``.

    With ``rnn_relu`` this is the IRNN (Le et al. 2015). The input weights U keep their init.
    """
    H = layer.config.hidden_size
    for name in _hh_names(layer):
        _blocks(layer, name)[...] = scale * np.eye(H)
    if zero_biases:
        for name, p in layer.params.items():
            if name.startswith("bias_"):
                p[...] = 0


def forget_bias_(layer: Recurrent, value: float = 1.0) -> None:
    """LSTM only: the forget-gate rows [H:2H] of bias_ih = value and of bias_hh = 0, so that the
    forget gate's total bias b_if + b_hf is ``value`` in every layer and direction."""
    if layer.config.mode != "lstm":
        raise ValueError(f"forget_bias_ needs an LSTM layer, got mode {layer.config.mode!r}")
    if not layer.config.bias:
        raise ValueError("forget_bias_ needs biases; this layer was built with bias=False")
    H = layer.config.hidden_size
    for name, p in layer.params.items():
        if name.startswith("bias_ih"):
            p[H:2 * H] = value
        elif name.startswith("bias_hh"):
            p[H:2 * H] = 0


def scale_(layer: Recurrent, factor: float) -> None:
    """Multiply every weight_hh by ``factor``, in place (its singular values scale by |factor|)."""
    for name in _hh_names(layer):
        layer.params[name] *= layer.dtype.type(factor)


def apply_init(layer: Recurrent, init: str = "default", gain: float = 1.0,
               forget_bias: float | None = None, rng: np.random.Generator | None = None) -> None:
    """Apply an initialisation by name (``INITS``), then the forget-gate bias if it is not None.

    init "default" leaves W as drawn (PyTorch's rule) and ignores ``gain`` unless gain != 1, in
    which case W is multiplied by it; "orthogonal" uses gain as the singular value; "identity"
    uses it as the diagonal (and zeroes the biases).
    """
    if init == "default":
        if gain != 1.0:
            scale_(layer, gain)
    elif init == "orthogonal":
        orthogonal_(layer, gain, rng)
    elif init == "identity":
        identity_(layer, gain)
    else:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if forget_bias is not None:
        forget_bias_(layer, forget_bias)

"""Which path runs the recurrent layers: ``"reference"``, ``"numpy"`` or ``"numba"``.

All three compute the same function with the same parameters (the tests hold each fast path to
the reference: float64 to 1e-12, float32 to 1e-5, and to PyTorch):

- ``"reference"``: ``bptt/cells/reference.py`` looping the readable one-step functions of
  ``cells/rnn.py``, ``lstm.py``, ``gru.py``. Slow; the one to read and to check against.
- ``"numpy"``: the fast NumPy path (``cells/numpy_path.py``). The default without numba.
- ``"numba"``: the compiled path (``cells/numba_path.py``), from the optional extra
  ``pip install 'bptt[fast]'``. The default when numba can be imported.

Choose with the environment variable ``BPTT_BACKEND=numpy|numba|reference`` (read at import),
or in Python::

    bptt.set_backend("numpy")            # from now on
    with bptt.use_backend("reference"):  # inside the block only
        out, h, cache = layer.forward(x)

The backward pass always runs on the path that ran the forward pass (the cache says which).
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from contextlib import contextmanager

BACKENDS = ("reference", "numpy", "numba")
ENV = "BPTT_BACKEND"
_INSTALL = "pip install 'bptt[fast]'"


def _check(name: str, where: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"{where}: backend must be one of {BACKENDS}, got {name!r}")
    return name


def numba_installed() -> bool:
    """True if numba can be found (not imported: that costs ~0.3 s and happens on first use)."""
    return importlib.util.find_spec("numba") is not None


def _initial() -> tuple[str, bool]:
    """(backend, chosen automatically?) from the environment."""
    name = os.environ.get(ENV, "").strip().lower()
    if name:
        return _check(name, f"environment variable {ENV}"), False
    return ("numba" if numba_installed() else "numpy"), True


_current, _automatic = _initial()


def get_backend() -> str:
    """The backend that runs the next forward pass."""
    return _current


def set_backend(name: str) -> None:
    """Use ``name`` ("reference", "numpy" or "numba") from now on. Asking for "numba" without
    numba installed raises ImportError."""
    global _current, _automatic
    _check(name, "set_backend")
    implementation(name)                    # import now, so that a missing numba fails here
    _current, _automatic = name, False


@contextmanager
def use_backend(name: str):
    """Run the block with backend ``name``, then restore the previous one."""
    global _current, _automatic
    previous = (_current, _automatic)
    set_backend(name)
    try:
        yield
    finally:
        _current, _automatic = previous


def current():
    """(name, module) of the backend that runs now, importing it on first use. If numba was
    chosen automatically (no ``BPTT_BACKEND``, no ``set_backend``) but does not import, warns
    once and falls back to the fast NumPy path for good."""
    global _current, _automatic
    if _current == "numba" and _automatic:
        try:
            return "numba", implementation("numba")
        except ImportError as e:
            warnings.warn(f"bptt: numba is installed but does not import ({e.__cause__ or e}); "
                          f"using the fast NumPy path. Set {ENV}=numpy to silence this.",
                          RuntimeWarning, stacklevel=3)
            _current = "numpy"
    return _current, implementation(_current)


def for_cell(cell):
    """(name, module) of the path that runs ``cell`` now: the current one, or the reference path
    (said once per cell and path) when the cell has no kernels there (a registered cell with
    step functions only)."""
    name, module = current()
    if name != "reference" and cell.kernel(name) is None:
        if cell.first_fallback(name):
            warnings.warn(f"bptt: cell {cell.mode!r} has no kernels for the {name} path; it runs on the "
                          f"reference path (the same numbers, slower)", RuntimeWarning, stacklevel=3)
        return "reference", implementation("reference")
    return name, module


def implementation(name: str):
    """The module with a backend's ``forward`` / ``backward`` / ``step_cache`` (protocol.py)."""
    if name == "numba":
        try:
            from .cells import numba_path
        except ImportError as e:
            raise ImportError(f"the numba backend needs numba: {_INSTALL} ({e})") from e
        return numba_path
    if name == "numpy":
        from .cells import numpy_path
        return numpy_path
    from .cells import reference
    return reference

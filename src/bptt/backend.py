"""Which path runs the recurrent layers: ``"reference"``, ``"numpy"`` or ``"numba"``.

All three compute the same function with the same parameters (the tests hold each fast path to
the reference: float64 to 1e-12, float32 to 1e-5, and to PyTorch):

- ``"reference"``: ``bptt/cells/reference.py`` looping the readable one-step functions of
  ``cells/rnn.py``, ``lstm.py``, ``gru.py``. Slow; the one to read and to check against.
- ``"numpy"``: the fast NumPy path (``cells/numpy_path.py``). What runs without numba.
- ``"numba"``: the compiled path (``cells/numba_path.py``). numba is a dependency of bptt, so
  this is the default. Where numba is missing (or does not import), bptt says so in one line,
  once, and runs the fast NumPy path: the same numbers, slower. To try that fallback:
  ``pip uninstall -y numba llvmlite`` in a virtual environment (CI runs the suite once so), or
  ``tests/cells/test_numba_fallback.py``, which hides numba from a child interpreter.

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
_INSTALL = "pip install numba threadpoolctl (dependencies of bptt; pip install 'bptt[fast]' also works)"


def _check(name: str, where: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"{where}: backend must be one of {BACKENDS}, got {name!r}")
    return name


def numba_installed() -> bool:
    """True if numba can be found (not imported: that costs ~0.3 s and happens on first use)."""
    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):   # an import hook refusing it; sys.modules["numba"] = None
        return False


def _initial() -> tuple[str, bool]:
    """(backend, chosen automatically?) from the environment."""
    name = os.environ.get(ENV, "").strip().lower()
    if name:
        return _check(name, f"environment variable {ENV}"), False
    return ("numba" if numba_installed() else "numpy"), True


_current, _automatic = _initial()
_told = False               # the automatic choice fell back to the NumPy path and said so

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
    """(name, module) of the backend that runs now, importing it on first use. If the path was
    chosen automatically (no ``BPTT_BACKEND``, no ``set_backend``) and numba is missing or does
    not import, says so once (one line) and runs the fast NumPy path for good."""
    global _current, _told
    module = _MODULES.get(_current)
    if module is not None and (_told or not _automatic or _current != "numpy"):
        return _current, module     # the common case: imported, and nothing (left) to say
    if _current == "numba" and _automatic:
        try:
            return "numba", implementation("numba")
        except ImportError as e:
            _told = True
            _say(f"numba is installed but does not import ({e.__cause__ or e}); using the fast NumPy "
                 f"path. Set {ENV}=numpy to silence this.")
            _current = "numpy"
    elif _current == "numpy" and _automatic and not _told:
        _told = True
        _say(f"numba is not installed, so the fast NumPy path runs (the compiled path is 1-2x "
             f"faster): {_INSTALL}. Set {ENV}=numpy to silence this.")
    return _current, implementation(_current)


def _say(message: str) -> None:
    """One line on stderr, as a RuntimeWarning from "bptt" (no source line under it): the
    warnings machinery lets a program filter it, and pytest collects it apart from the output."""
    warnings.warn_explicit(message, RuntimeWarning, "bptt", 1, module="bptt")


def for_cell(cell):
    """(name, module) of the path that runs ``cell`` now: the current one, or the reference path
    (said once per cell and path) when the cell has no kernels there (a registered cell with
    step functions only)."""
    name, module = current()
    if name != "reference" and cell.kernel(name) is None:
        if cell.first_fallback(name):
            _say(f"cell {cell.mode!r} has no kernels for the {name} path; it runs on the reference path "
                 f"(the same numbers, slower)")
        return "reference", implementation("reference")
    return name, module


_MODULES: dict = {}         # name -> the imported path module (``implementation``)


def implementation(name: str):
    """The module with a backend's ``forward`` / ``backward`` / ``step_cache`` (protocol.py)."""
    module = _MODULES.get(name)
    if module is None:
        module = _MODULES[name] = _import(name)
    return module


def _import(name: str):
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

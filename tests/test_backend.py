"""Choosing the path that runs the recurrent layers: BPTT_BACKEND, set_backend, use_backend, and
what happens without numba."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import bptt
from bptt import backend


def _run_python(code: str, **env) -> str:
    full = {k: v for k, v in os.environ.items() if k != backend.ENV}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_environment_variable_chooses_the_backend_at_import():
    for name in backend.BACKENDS:
        if name == "numba" and not backend.numba_installed():
            continue
        assert _run_python("import bptt; print(bptt.get_backend())", BPTT_BACKEND=name) == name


def test_without_the_variable_numba_is_used_when_installed():
    want = "numba" if backend.numba_installed() else "numpy"
    assert _run_python("import bptt; print(bptt.get_backend())") == want


def test_an_unknown_backend_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"set_backend: backend must be one of \('reference', 'numpy', 'numba'\), got 'cuda'"):
        bptt.set_backend("cuda")
    err = subprocess.run([sys.executable, "-c", "import bptt"], capture_output=True, text=True,
                         env={**os.environ, backend.ENV: "fortran"})
    assert err.returncode != 0 and "environment variable BPTT_BACKEND" in err.stderr


def test_use_backend_restores_the_previous_backend_even_after_an_error():
    before = bptt.get_backend()
    with pytest.raises(RuntimeError):
        with bptt.use_backend("reference"):
            assert bptt.get_backend() == "reference"
            raise RuntimeError("inside")
    assert bptt.get_backend() == before
    bptt.set_backend("reference")
    try:
        assert bptt.get_backend() == "reference"
    finally:
        bptt.set_backend(before)


def test_numba_chosen_automatically_but_broken_falls_back_to_numpy_with_a_warning(monkeypatch):
    """A numba that is found but fails to import (e.g. built for another NumPy) must not break
    bptt: the fast NumPy path runs, and the user is told once."""
    import builtins
    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name.startswith("numba") or (args and args[2] and "numba_path" in args[2]):
            raise ImportError("numba is broken here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(backend, "_current", "numba")
    monkeypatch.setattr(backend, "_automatic", True)
    monkeypatch.delitem(sys.modules, "bptt.cells.numba_path", raising=False)
    monkeypatch.setattr(backend, "_MODULES", {})        # nothing imported yet
    monkeypatch.setattr(builtins, "__import__", broken)
    layer = bptt.LSTM(3, 4, dtype="float64", rng=np.random.default_rng(0))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _, _, cache = layer.forward(np.ones((2, 1, 3)))
    assert any("numba is installed but does not import" in str(w.message) for w in seen)
    assert cache.layers[0][0].backend == "numpy" and backend.get_backend() == "numpy"


def test_asking_for_numba_explicitly_without_it_is_an_import_error_naming_the_extra(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def missing(name, *args, **kwargs):
        if args and args[2] and "numba_path" in args[2]:
            raise ImportError("No module named 'numba'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "bptt.cells.numba_path", raising=False)
    monkeypatch.setattr(backend, "_MODULES", {})        # nothing imported yet
    monkeypatch.setattr(builtins, "__import__", missing)
    before = bptt.get_backend()
    with pytest.raises(ImportError, match=r"pip install 'bptt\[fast\]'"):
        bptt.set_backend("numba")
    monkeypatch.setattr(backend, "_current", before)

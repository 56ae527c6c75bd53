r"""A cell, described once, and the registry of cells by name.

A ``Cell`` says everything any path needs about a recurrence:

- its **name** (the ``mode`` of ``bptt.Recurrent``, the ``cell`` setting of the models and jobs);
- its **state**: the parts it carries from step to step, ``("h",)`` or ``("h", "c")`` (what a
  ``bptt.State`` holds); h is the output at every step;
- its **parameter layout**, with PyTorch-style names: the row blocks of ``weight_ih`` (U), e.g.
  ``("i", "f", "g", "o")``, each of H rows, with ``bias_ih``; ``weight_hh`` (W) and ``bias_hh``
  with the same blocks when the cell is ``recurrent`` (minGRU and minLSTM are not: their gates
  read x_t only); and any ``extra`` vector parameters, each with its own row blocks (a peephole
  LSTM's ``weight_ch`` with blocks i, f, o);
- its **reference step**, two pure functions on arrays::

      step_forward(x_t, state, params)   -> (state_t, cache)
      step_backward(d_state_t, cache)    -> (dx_t, d_state_{t-1}, Params of this step's gradients)

  with x_t (B, In), every state part (B, H), ``params`` a ``Params``, and ``cache`` a NamedTuple
  whose array fields have the B rows first (the paths slice it by rows);
- its **kernels** on the fast paths, if it has any: ``{"numpy": load, "numba": load}``, each
  ``load(cell)`` returning that path's kernel object for the cell (imported on first use, so a
  cell never imports numba until the compiled path runs it). A cell without kernels for the path
  in use runs on the reference path, which says so once.

Every path (``reference.py``, ``numpy_path.py``, ``numba_path.py``) implements the same three
functions on a ``Cell``, reached through ``bptt.backend``::

    forward(cell, x, params, state0, packing)        -> (out, final states, cache)
    backward(cell, d_out, d_final, cache, params)    -> (dx, d_state0, Params gradients)
    step_cache(cell, cache, params, t, rows)         -> the reference step's cache of step t

``register_cell`` adds a cell under its name; ``get_cell(name)`` finds it; ``MODES`` lists the
names registered so far (a live view: a cell registered later is in it).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Mapping


@dataclass(frozen=True, eq=False)
class Cell:
    mode: str                               # its name: "lstm", "mingru", "my_cell"
    blocks: tuple[str, ...]                 # row blocks of weight_ih (and weight_hh), H rows each
    states: tuple[str, ...]                 # the state's parts: ("h",) or ("h", "c")
    step_forward: Callable                  # the reference step and its backward (module docstring)
    step_backward: Callable
    recurrent: bool = True                  # has weight_hh / bias_hh (False: gates read x_t only)
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # name -> row blocks, (k*H,)
    nonlinearity: str | None = None         # the vanilla RNN's f ("tanh", "relu", "sigmoid")
    kernels: Mapping[str, Callable] = field(default_factory=dict)       # path -> load(cell)
    _loaded: dict = field(default_factory=dict, repr=False)

    @property
    def gates(self) -> int:
        """Row blocks in weight_ih / weight_hh (1 RNN, 4 LSTM, 3 GRU, 2 minGRU, 3 minLSTM)."""
        return len(self.blocks)

    @property
    def num_states(self) -> int:
        return len(self.states)

    def kernel(self, path: str):
        """This cell's kernels on ``path`` ("numpy", "numba"), loaded on first use; None if it
        has none there."""
        if path not in self._loaded:
            load = self.kernels.get(path)
            self._loaded[path] = None if load is None else load(self)
        return self._loaded[path]

    def first_fallback(self, path: str) -> bool:
        """True the first time it is asked for ``path``: the paths say once per cell that it runs
        on the reference path there."""
        first = ("fallback", path) not in self._loaded
        self._loaded[("fallback", path)] = True
        return first

    @property
    def fast(self):
        """The fast NumPy path's kernels (``numpy_path.FastNumpy``), or None."""
        return self.kernel("numpy")


def lazy(module: str, attribute: str = "kernels") -> Callable:
    """A kernel loader: ``load(cell)`` imports ``module`` and calls its ``attribute(cell)``."""
    return lambda cell: getattr(importlib.import_module(module), attribute)(cell)


def built_in_kernels(name: str, attribute: str = "kernels") -> dict[str, Callable]:
    """The loaders of a built-in cell's kernels: ``bptt.cells.numpy_<name>`` and ``numba_<name>``."""
    return {path: lazy(f"bptt.cells.{path}_{name}", attribute) for path in ("numpy", "numba")}


_REGISTRY: dict[str, Cell] = {}


class _Modes:
    """The registered names, in order of registration: supports ``in``, iteration, ``len``."""

    def __contains__(self, name) -> bool:
        return name in _REGISTRY

    def __iter__(self):
        return iter(tuple(_REGISTRY))

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return repr(tuple(_REGISTRY))


MODES = _Modes()


def register_cell(cell: Cell | str = None, step_forward: Callable | None = None,
                  step_backward: Callable | None = None, *, blocks=("h",), states=("h",),
                  recurrent: bool = True, extra: Mapping[str, tuple[str, ...]] | None = None,
                  kernels: Mapping[str, Callable] | None = None, replace: bool = False) -> Cell:
    """Add a cell under its name, so that ``bptt.Recurrent(RecurrentConfig(mode=name, ...))``,
    every model (``mode=``) and job (``cell=``) can use it. Either a ``Cell``, or its fields::

        register_cell("my_cell", step_forward, step_backward, blocks=("z", "n"), states=("h",))

    A name already taken raises ValueError unless ``replace=True``. Returns the Cell.
    """
    if not isinstance(cell, Cell):
        if not isinstance(cell, str) or not cell:
            raise TypeError(f"register_cell needs a Cell or a name, got {cell!r}")
        if not callable(step_forward) or not callable(step_backward):
            raise TypeError(f"register_cell({cell!r}): step_forward and step_backward must be functions")
        cell = Cell(cell, tuple(blocks), tuple(states), step_forward, step_backward, recurrent,
                    dict(extra or {}), None, dict(kernels or {}))
    if not cell.blocks or cell.states not in (("h",), ("h", "c")):
        raise ValueError(f"cell {cell.mode!r}: needs at least one row block and the state ('h',) or "
                         f"('h', 'c') (what bptt.State holds), got blocks={cell.blocks}, "
                         f"states={cell.states}")
    if cell.mode in _REGISTRY and not replace:
        raise ValueError(f"a cell named {cell.mode!r} is already registered (replace=True replaces it)")
    _REGISTRY[cell.mode] = cell
    return cell


def unregister_cell(name: str) -> None:
    """Remove a registered cell (tests register throwaway ones)."""
    _REGISTRY.pop(name, None)


def get_cell(mode: str) -> Cell:
    """The cell registered under ``mode``."""
    try:
        return _REGISTRY[mode]
    except (KeyError, TypeError):
        raise ValueError(f"unknown cell mode {mode!r}; expected one of {MODES} (or register one: "
                         f"bptt.cells.register_cell)") from None

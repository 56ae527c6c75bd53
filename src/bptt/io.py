"""Saving and loading models: safetensors weights plus a JSON config, never pickle.

A saved model is a directory of two files::

    config.json         {"format": "bptt", "version": 1, "type": "Recurrent",
                         "config": {"mode": "lstm", "input_size": 64, ...}}
    model.safetensors   one tensor per parameter, named exactly like the model's ``params``
                        (PyTorch's state_dict names: weight_ih_l0, bias_hh_l1_reverse, ...);
                        its metadata holds the same JSON under "config", so the file alone
                        describes itself

Because the names are PyTorch's, the weights move both ways without renaming::

    module.load_state_dict(safetensors.torch.load_file("run/model.safetensors"))
    safetensors.torch.save_file(module.state_dict(), "w.safetensors")
    tensors, _ = load_params("w.safetensors"); load_state_dict(model, tensors, "w.safetensors")

Every file is written atomically: into a temporary file in the same directory, flushed and
fsync'ed, then moved over the old one with ``os.replace``. A failed write leaves the previous
file as it was and no temporary file behind.

Model types: ``load`` finds the class for config.json's "type" in ``bptt.models.MODEL_TYPES``
(the registry lives with the models, and nothing there imports this module); a class is stored
under its ``type_name`` attribute if it has one, else its class name. A new model class adds
itself with ``bptt.models.register_model_type("Name", cls)``; it needs ``from_config(dict)``,
``config.to_dict()``, ``params`` ({name: array}) and ``param_shapes()`` ({name: shape}).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from .files import atomic_write, json_scalar, read_json_object, write_json
from .models import MODEL_TYPES, model_type_name

FORMAT = "bptt"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


# ---- whole models ------------------------------------------------------------------------
def save(model, directory: str | os.PathLike, weights_dtype: str | None = None) -> Path:
    """Write ``directory/model.safetensors`` and ``directory/config.json``; return the directory.

    The weights are written first, then the config, each atomically. ``weights_dtype`` (e.g.
    "float16") stores the weights in another float type to make the file smaller; ``load``
    casts them back to the model's dtype.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = state_dict(model)
    _check_tensors(model, tensors, source=f"model {model_type_name(model)} being saved")
    if weights_dtype is not None:
        tensors = {name: t.astype(weights_dtype) for name, t in tensors.items()}
    doc = {"format": FORMAT, "version": VERSION, "type": model_type_name(model),
           "config": model.config.to_dict()}
    text = json.dumps(doc, indent=2, default=json_scalar) + "\n"
    save_params(directory / WEIGHTS_FILE, tensors, metadata={"config": text})
    write_json(directory / CONFIG_FILE, doc)
    return directory


def load(directory: str | os.PathLike):
    """Build the model described by ``directory/config.json`` with the weights beside it."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    doc = _read_config(config_path)
    cls = MODEL_TYPES.get(doc["type"])
    if cls is None:
        raise ValueError(f"{config_path}: unknown model type {doc['type']!r}; "
                         f"known types: {sorted(MODEL_TYPES)}")
    try:
        model = cls.from_config(doc["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{config_path}: invalid config for {doc['type']}: {err}") from err
    weights_path = directory / WEIGHTS_FILE
    tensors, _ = load_params(weights_path)
    load_state_dict(model, tensors, source=str(weights_path))
    return model


def load_as(directory: str | os.PathLike, cls: type | tuple[type, ...]):
    """``load``, refusing a directory that holds another model type than ``cls`` (or one of them)."""
    model = load(directory)
    if not isinstance(model, cls):
        want = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise ValueError(f"{Path(directory) / CONFIG_FILE}: expected a {want}, "
                         f"got {type(model).__name__}")
    return model


def _read_config(path: Path) -> dict:
    doc = read_json_object(path)
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: 'format' must be {FORMAT!r}, got {doc.get('format')!r}")
    if doc.get("version") != VERSION:
        raise ValueError(f"{path}: 'version' must be {VERSION}, got {doc.get('version')!r}")
    if not isinstance(doc.get("type"), str):
        raise ValueError(f"{path}: 'type' must be a string naming the model class, "
                         f"got {doc.get('type')!r}")
    if not isinstance(doc.get("config"), dict):
        raise ValueError(f"{path}: 'config' must be a JSON object, got {doc.get('config')!r}")
    return doc


# ---- parameters <-> tensors ----------------------------------------------------------------
def state_dict(model) -> dict[str, np.ndarray]:
    """A copy of every parameter, {PyTorch name: array}."""
    return {name: np.array(value, copy=True) for name, value in model.params.items()}


def load_state_dict(model, tensors: dict[str, np.ndarray], source: str) -> None:
    """Copy ``tensors`` into ``model.params`` in place, cast to each parameter's dtype.

    The arrays are written into, not replaced, because optimizers hold references to them.
    Raises ValueError naming ``source`` and listing every missing, unexpected or misshapen
    tensor; nothing is copied unless all of them match.
    """
    _check_tensors(model, tensors, source)
    for name, value in tensors.items():
        model.params[name][...] = value


def _check_tensors(model, tensors: dict, source: str) -> None:
    expected = {name: tuple(shape) for name, shape in model.param_shapes().items()}
    problems = []
    for name, shape in expected.items():
        if name not in tensors:
            problems.append(f"missing tensor {name!r} (expected shape {shape})")
        elif tuple(np.shape(tensors[name])) != shape:
            problems.append(f"tensor {name!r}: expected shape {shape}, "
                            f"found {tuple(np.shape(tensors[name]))}")
    for name in tensors:
        if name not in expected:
            problems.append(f"unexpected tensor {name!r} (shape {tuple(np.shape(tensors[name]))})")
    if problems:
        raise ValueError(f"{source}: tensors do not match the {model_type_name(model)} model:\n  "
                         + "\n  ".join(problems))


# ---- safetensors files ---------------------------------------------------------------------
def save_params(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                metadata: dict[str, str] | None = None) -> None:
    """Write {name: array} (and string metadata) to a safetensors file, atomically."""
    path = Path(path)
    # safetensors writes an array's raw buffer: a strided view must be made contiguous first.
    # (np.ascontiguousarray would also turn a 0-d array into shape (1,): copy instead.)
    arrays = {name: np.array(value, order="C", copy=not value.flags.c_contiguous)
              for name, value in ((n, np.asarray(v)) for n, v in tensors.items())}
    atomic_write(path, lambda tmp: safetensors.numpy.save_file(arrays, tmp, metadata=metadata))


def load_params(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: ({name: array}, metadata, {} if it has none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except safetensors.SafetensorError as err:
        raise ValueError(f"{path}: not a valid safetensors file: {err}") from err
    return tensors, metadata



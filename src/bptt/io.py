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

Integrity. ``save_params`` stores in the file's metadata, under "sha256", the SHA-256 of every
tensor's bytes and of every other metadata value; ``load_params`` checks them, so a flipped byte
or a truncated tensor is refused with the tensor's name (files without checksums, e.g. written
by PyTorch, are read unchecked). Non-finite values are never written and never loaded into a
model. A tensor must have the dtype of the model, or one it holds exactly (float16 weights,
saved with ``weights_dtype="float16"``, load into a float32 model): float64 into float32 would
round, and integer, bool and bfloat16 tensors are refused, never cast. Before a model is built,
config.json is compared with the config the weights file was saved with, so sizes that do not
belong to the weights (e.g. ``"hidden_size": 100000``) are refused before anything is allocated.

Model types: ``load`` finds the class for config.json's "type" in ``bptt.models.MODEL_TYPES``
(the registry lives with the models, and nothing there imports this module); a class is stored
under its ``type_name`` attribute if it has one, else its class name. A new model class adds
itself with ``bptt.models.register_model_type("Name", cls)``; it needs ``from_config(dict)``,
``config.to_dict()``, ``params`` ({name: array}) and ``param_shapes()`` ({name: shape}).
"""
from __future__ import annotations

import hashlib
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
def save(model, directory: str | os.PathLike, weights_dtype: str | None = None,
         files: list[str] | None = None) -> Path:
    """Write ``directory/model.safetensors`` and ``directory/config.json``; return the directory.

    ``files``: names of files already written beside the model that belong to it (a job's
    vocabulary and settings): their SHA-256s go into the weights' metadata, and ``load``
    refuses the model if one of them has changed since.

    The weights are written first, then the config, each atomically. ``weights_dtype`` (e.g.
    "float16") stores the weights in a smaller float type to make the file smaller; ``load``
    widens them back to the model's dtype. Non-finite weights (also after that conversion) are
    refused with the tensor's name.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = state_dict(model)
    _check_tensors(model, tensors, str(directory), f"refusing to save the {model_type_name(model)} model")
    if weights_dtype is not None:
        if np.dtype(weights_dtype).kind != "f":
            raise ValueError(f"weights_dtype must be a float type (float16, float32, float64), "
                             f"got {weights_dtype!r}")
        with np.errstate(over="ignore"):
            tensors = {name: t.astype(weights_dtype) for name, t in tensors.items()}
    doc = {"format": FORMAT, "version": VERSION, "type": model_type_name(model),
           "config": model.config.to_dict()}
    text = json.dumps(doc, indent=2, default=json_scalar) + "\n"
    metadata = {"config": text}
    if files:
        metadata[COMPANIONS] = json.dumps({name: file_digest(directory / name) for name in sorted(files)})
    save_params(directory / WEIGHTS_FILE, tensors, metadata=metadata)
    write_json(directory / CONFIG_FILE, doc)
    return directory


def load(directory: str | os.PathLike):
    """Build the model described by ``directory/config.json`` with the weights beside it.

    Every problem raises an error naming the file: config.json not matching the config the
    weights were saved with (checked before the model is built), a damaged weights file, a
    tensor of the wrong name, shape or dtype, non-finite weights.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such model folder" if not directory.exists()
                                else f"{directory}: not a folder (a model is a folder holding "
                                     f"{CONFIG_FILE} and {WEIGHTS_FILE})")
    config_path = directory / CONFIG_FILE
    doc = _read_config(config_path)
    cls = MODEL_TYPES.get(doc["type"])
    if cls is None:
        raise ValueError(f"{config_path}: unknown model type {doc['type']!r}; "
                         f"known types: {sorted(MODEL_TYPES)}")
    weights_path = directory / WEIGHTS_FILE
    tensors, metadata = load_params(weights_path)
    _check_config_matches(config_path, doc, weights_path, tensors, metadata)
    _check_companions(directory, weights_path, metadata)
    try:
        model = cls.from_config(doc["config"])
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as err:
        raise ValueError(f"{config_path}: invalid config for {doc['type']}: {err}") from err
    except MemoryError:
        raise ValueError(f"{config_path}: the config asks for a model too large for this machine's "
                         f"memory: {_sizes(doc['config'])}") from None
    load_state_dict(model, tensors, source=str(weights_path))
    return model


def _sizes(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if isinstance(v, (int, list)) and
                     not isinstance(v, bool)) or "(no sizes)"


def _check_config_matches(config_path: Path, doc: dict, weights_path: Path, tensors: dict,
                          metadata: dict) -> None:
    """Refuse a config.json that does not describe the weights, before any model is built.

    With the config saved in the weights file (``save`` puts it there): every field must equal
    it. Without (a file written by other code): no integer in the config may exceed every
    dimension of every tensor, and a hidden size H needs an H x H matrix among them.
    """
    saved_text = metadata.get("config")
    if saved_text is not None:
        try:
            saved = json.loads(saved_text)
        except json.JSONDecodeError:
            saved = None
        if isinstance(saved, dict) and isinstance(saved.get("config"), dict):
            fields = sorted(set(doc["config"]) | set(saved["config"]))
            differ = [f"{f!r} is {doc['config'].get(f, '(missing)')!r} but the weights were saved "
                      f"with {saved['config'].get(f, '(missing)')!r}"
                      for f in fields if doc["config"].get(f, _MISSING) != saved["config"].get(f, _MISSING)]
            if saved.get("type") != doc["type"]:
                differ.insert(0, f"'type' is {doc['type']!r} but the weights were saved as "
                                 f"{saved.get('type')!r}")
            if differ:
                raise ValueError(f"{config_path}: does not match {weights_path.name}, which was saved "
                                 f"with another config: " + "; ".join(differ[:5])
                                 + ". Restore config.json, or save the model again")
            return
    dims = [d for t in tensors.values() for d in np.shape(t)]
    largest, elements = max(dims, default=0), sum(int(np.size(t)) for t in tensors.values())
    for name, value in doc["config"].items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool) and v > max(largest, len(tensors)):
                raise ValueError(f"{config_path}: {name!r} is {v}, larger than every dimension of the "
                                 f"tensors in {weights_path.name} (the largest is {largest}): the "
                                 f"config does not describe these weights")
        if name.endswith("hidden_size") and isinstance(value, int) and value * value > elements:
            raise ValueError(f"{config_path}: {name!r} is {value}, but {weights_path.name} holds "
                             f"{elements:,} numbers, fewer than one {value} x {value} matrix: the "
                             f"config does not describe these weights")


_MISSING = object()
COMPANIONS = "files"        # metadata key: {file beside the model: its SHA-256}


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    try:
        return _digest(Path(path).read_bytes())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None


def _check_companions(directory: Path, weights_path: Path, metadata: dict) -> None:
    """Refuse a model whose companion files (listed with their SHA-256 at save) have changed."""
    if COMPANIONS not in metadata:
        return
    try:
        listed = dict(json.loads(metadata[COMPANIONS]))
    except (json.JSONDecodeError, TypeError, ValueError):
        raise ValueError(f"{weights_path}: the list of the files saved with the model is damaged") from None
    for name, digest in sorted(listed.items()):
        path = directory / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; it was saved with the model in {directory}")
        if file_digest(path) != digest:
            raise ValueError(f"{path}: changed or damaged since the model was saved (its SHA-256 differs "
                             f"from the one in {weights_path.name}): restore it, or save the model again")


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
    """Copy ``tensors`` into ``model.params`` in place.

    The arrays are written into, not replaced, because optimizers hold references to them.
    Raises ValueError naming ``source`` and listing every missing, unexpected or misshapen
    tensor, every tensor whose dtype the parameter's cannot hold exactly (float16 -> float32 is
    fine; float64 -> float32, integers, bool are not) and every tensor holding NaN or infinity;
    nothing is copied unless all of them are right.
    """
    _check_tensors(model, tensors, source)
    for name, value in tensors.items():
        model.params[name][...] = value


def _check_tensors(model, tensors: dict, source: str, lead: str = "") -> None:
    expected = {name: tuple(shape) for name, shape in model.param_shapes().items()}
    problems = []
    wrong_values: dict[str, list[str]] = {}          # problem -> tensor names
    for name, shape in expected.items():
        if name not in tensors:
            problems.append(f"missing tensor {name!r} (expected shape {shape})")
        elif tuple(np.shape(tensors[name])) != shape:
            problems.append(f"tensor {name!r}: expected shape {shape}, "
                            f"found {tuple(np.shape(tensors[name]))}")
        else:
            problem = _value_problem(np.asarray(tensors[name]), model.params[name].dtype)
            if problem:
                wrong_values.setdefault(problem, []).append(name)
    for name in tensors:
        if name not in expected:
            problems.append(f"unexpected tensor {name!r} (shape {tuple(np.shape(tensors[name]))})")
    for problem, names in wrong_values.items():
        shown = ", ".join(repr(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
        which = f"tensor {names[0]!r}" if len(names) == 1 else f"{len(names)} tensors ({shown})"
        problems.append(f"{which}: {problem}")
    if problems:
        lead = lead or f"tensors do not match the {model_type_name(model)} model"
        raise ValueError(f"{source}: {lead}:\n  " + "\n  ".join(problems))


def _value_problem(value: np.ndarray, dtype: np.dtype) -> str:
    """What is wrong with the dtype or the values of a tensor for a parameter of ``dtype``."""
    if value.dtype.kind != "f":
        return (f"dtype {value.dtype}, but weights must be floating point ({dtype}); "
                f"integer and bool tensors are not converted")
    if not np.can_cast(value.dtype, dtype, "safe"):
        return (f"dtype {value.dtype}, but the model is {dtype}: converting would round; build "
                f"the model with dtype {value.dtype.name} or convert the weights")
    if not np.all(np.isfinite(value)):
        return "holds NaN or infinite values"
    return ""


# ---- safetensors files ---------------------------------------------------------------------
CHECKSUMS = "sha256"            # the metadata key of the checksums
NUMPY_DTYPES = {"F16", "F32", "F64", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL"}


def _digest(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def _tensor_digest(value: np.ndarray) -> str:
    """SHA-256 of the bytes safetensors stores: C order, little-endian."""
    little = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))   # 0-d: same bytes
    return _digest(memoryview(little).cast("B"))

def save_params(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                metadata: dict[str, str] | None = None) -> None:
    """Write {name: array} (and string metadata) to a safetensors file, atomically, with the
    SHA-256 of every tensor and metadata value; floating-point tensors must be finite."""
    path = Path(path)
    metadata = dict(metadata or {})
    if CHECKSUMS in metadata:
        raise ValueError(f"{path}: the metadata key {CHECKSUMS!r} is reserved for the checksums")
    # safetensors writes an array's raw buffer: a strided view must be made contiguous first.
    # (np.ascontiguousarray would also turn a 0-d array into shape (1,): copy instead.)
    arrays = {name: np.array(value, order="C", copy=not value.flags.c_contiguous)
              for name, value in ((n, np.asarray(v)) for n, v in tensors.items())}
    bad = [f"{name!r} ({int(a.size - np.count_nonzero(np.isfinite(a))):,} of {a.size:,} values)"
           for name, a in arrays.items() if a.dtype.kind == "f" and not np.all(np.isfinite(a))]
    if bad:
        raise ValueError(f"{path}: refusing to write NaN or infinite values, in tensors "
                         f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}")
    metadata[CHECKSUMS] = json.dumps({
        "tensors": {name: _tensor_digest(a) for name, a in sorted(arrays.items())},
        "metadata": {key: _digest(value.encode("utf-8")) for key, value in sorted(metadata.items())}})
    atomic_write(path, lambda tmp: safetensors.numpy.save_file(arrays, tmp, metadata=metadata))


def load_params(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: ({name: array}, metadata, {} if it has none, without the
    checksums). The checksums, if the file has them, are verified: a tensor or metadata value
    that does not match, or lacks its checksum, is refused naming it. Tensors of a dtype NumPy
    has no type for (bfloat16, float8) are refused naming them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        with safetensors.safe_open(path, framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            dtypes = {name: f.get_slice(name).get_dtype() for name in f.keys()}
            odd = [f"{name!r} is {dt}" for name, dt in dtypes.items() if dt not in NUMPY_DTYPES]
            if odd:
                raise ValueError(f"{path}: tensors of a type NumPy cannot hold: {', '.join(odd[:5])}; "
                                 f"convert them to float32 (in PyTorch: tensor.float()) and save again")
            tensors = {name: f.get_tensor(name) for name in dtypes}
    except (safetensors.SafetensorError, OSError) as err:
        raise ValueError(f"{path}: not a valid safetensors file: {err}") from err
    checksums = metadata.pop(CHECKSUMS, None)
    if checksums is None:
        lost = [k for k, v in metadata.items() if _looks_like_checksums(k, v)]
        if lost:
            raise ValueError(f"{path}: damaged file: the checksums are under the metadata key {lost[0]!r} "
                             f"instead of {CHECKSUMS!r}; restore it from a copy or save it again")
    else:
        _verify(path, tensors, metadata, checksums)
    return tensors, metadata


def _looks_like_checksums(key: str, value: str) -> bool:
    """Whether a metadata entry is the checksums under a damaged key (so that a flipped byte in
    the key cannot turn the checks off): a key one or two characters from "sha256", or a value
    that starts the way the checksums do."""
    near = len(key) == len(CHECKSUMS) and sum(a != b for a, b in zip(key, CHECKSUMS)) <= 2
    return near or value.startswith('{"tensors": ')


def _verify(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str], checksums: str) -> None:
    try:
        sums = json.loads(checksums)
        want_t, want_m = dict(sums["tensors"]), dict(sums["metadata"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: the checksums in the file's metadata are damaged; the file "
                         f"cannot be trusted: save it again") from None
    problems = []
    for kind, have, want, digest in (
            ("tensor", tensors, want_t, _tensor_digest),
            ("metadata value", metadata, want_m, lambda v: _digest(v.encode("utf-8")))):
        for name in sorted(set(have) | set(want)):
            if name not in want:
                problems.append(f"{kind} {name!r} has no checksum")
            elif name not in have:
                problems.append(f"{kind} {name!r} is missing (its checksum is there)")
            elif digest(have[name]) != want[name]:
                problems.append(f"{kind} {name!r} does not match its checksum")
    if problems:
        raise ValueError(f"{path}: damaged file: {'; '.join(problems[:5])}"
                         f"{f'; ... and {len(problems) - 5} more' if len(problems) > 5 else ''}; "
                         f"restore it from a copy or save it again")

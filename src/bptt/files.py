"""Writing files so that nothing is ever half-written, and reading JSON objects with errors that
name the file.

Every write goes to a temporary file in the same directory (``.NAME.<random>.tmp``), is flushed
and fsync'ed, then moved over the target with ``os.replace``, and the directory entry is synced:
a reader sees the old file or the new one, never a mixture. A failed write removes its temporary
file and leaves the previous file as it was.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Callable

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` a temporary file beside ``path``, fsync it, then move it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:       # the writer may have closed the file: fsync its data
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if os.name == "posix":               # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` as UTF-8, atomically."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj, indent: int = 2) -> None:
    """Write ``obj`` as indented UTF-8 JSON, atomically."""
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=json_scalar) + "\n")


def json_scalar(value):
    """``json.dumps``'s ``default``: NumPy scalars (e.g. a config field given as np.int64)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"config value {value!r} of type {type(value).__name__} is not JSON")


def read_json_object(path: str | os.PathLike) -> dict:
    """The JSON object in ``path``; a ValueError naming the file otherwise."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc

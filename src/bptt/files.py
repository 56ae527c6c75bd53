"""Writing files and folders so that nothing is ever half-written, cleaning up after killed runs,
and reading JSON objects with errors that name the file.

Files. Every write goes to a temporary file in the same directory, ``.NAME.<pid>.<random>.tmp``,
is flushed and fsync'ed, then moved over the target with ``os.replace``, and the directory entry
is synced: a reader sees the old file or the new one, never a mixture. A failed write removes its
temporary file and leaves the previous file as it was. The file gets the permissions of any new
file (``0o666`` less the umask), whatever the library that wrote the temporary file chose.

Folders (``replace_directory``, e.g. a run's ``best/`` model): the new folder is written whole
as ``.NAME.<pid>.<random>.tmp/``, renamed ``....ready`` once complete, the old folder renamed
``....old``, the ready one renamed ``NAME``, and the old one removed. A kill at any point leaves
either the old folder or the new one complete under ``NAME``, or (between the two renames, a few
microseconds) no ``NAME`` but a complete ``.ready`` or ``.old`` beside it, which
``recover_directory`` puts back.

Leftovers. A killed process leaves its ``.tmp`` files (and ``.tmp/``, ``.ready/``, ``.old/``
folders) behind. The process id in the name says whose they are: ``clean_leftovers(folder)``
removes those whose process is gone, and every ``atomic_write`` of ``NAME`` first removes the
leftovers of earlier writes of ``NAME``. A live process's temporary files are never touched.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

# .NAME.<pid>.<12 hex>.<kind>; kind: tmp (being written), ready (complete folder), old (previous)
# (files of earlier versions had no pid: .NAME.<12 hex>.tmp)
_LEFTOVER = re.compile(r"\.(?P<name>.+?)(?:\.(?P<pid>\d+))?\.[0-9a-f]{12}\.(?P<kind>tmp|ready|old)")


def _temp_name(path: Path, kind: str = "tmp") -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.{kind}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:             # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _sync_directory(directory: Path) -> None:
    if os.name == "posix":               # make a rename durable
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def leftovers(directory: str | os.PathLike, name: str | None = None) -> list[Path]:
    """The temporary files and folders in ``directory`` left by processes that no longer run
    (only those of target ``name`` if given)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        m = _LEFTOVER.fullmatch(entry.name)
        if m and (name is None or m["name"] == name) and not (m["pid"] and _alive(int(m["pid"]))):
            found.append(entry)
    return sorted(found)


def clean_leftovers(directory: str | os.PathLike) -> list[Path]:
    """Put back any folder a kill left between two renames (``recover_directory``), then remove
    the leftovers of dead processes in ``directory``; returns what was removed."""
    directory = Path(directory)
    names = {_LEFTOVER.fullmatch(p.name)["name"] for p in leftovers(directory)}
    for name in names:
        recover_directory(directory / name)
    removed = leftovers(directory)
    for path in removed:
        _remove(path)
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` a temporary file beside ``path``, fsync it, then move it over ``path``."""
    path = Path(path)
    for old in leftovers(path.parent, path.name):
        _remove(old)
    tmp = _temp_name(path)
    try:
        write(tmp)
        with open(tmp, "rb") as f:       # the writer may have closed the file: fsync its data
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def replace_directory(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(folder)`` a new folder, then put it in place of ``path`` (see the module
    docstring): ``path`` is always either the old folder or the new one, complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(path.parent)
    tmp = _temp_name(path)
    try:
        tmp.mkdir()
        write(tmp)
        _sync_directory(tmp)
        ready = tmp.with_name(tmp.name[: -len("tmp")] + "ready")
        os.rename(tmp, ready)
    except BaseException:
        _remove(tmp)
        raise
    old = ready.with_name(ready.name[: -len("ready")] + "old")
    if path.exists():
        os.rename(path, old)
    os.rename(ready, path)
    _sync_directory(path.parent)
    _remove(old)
    return path


def recover_directory(path: str | os.PathLike) -> bool:
    """If ``path`` is missing because a ``replace_directory`` was killed between its renames,
    rename the complete new folder (else the old one) back to ``path``; True if it did."""
    path = Path(path)
    if path.exists():
        return False
    by_kind: dict[str, list[Path]] = {"ready": [], "old": []}
    for entry in leftovers(path.parent, path.name):
        kind = _LEFTOVER.fullmatch(entry.name)["kind"]
        if kind in by_kind and entry.is_dir():
            by_kind[kind].append(entry)
    for kind in ("ready", "old"):
        if by_kind[kind]:
            newest = max(by_kind[kind], key=lambda p: p.stat().st_mtime)
            os.rename(newest, path)
            _sync_directory(path.parent)
            return True
    return False


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
    """The JSON object in ``path``; a ValueError (FileNotFoundError if missing) naming the file
    otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot read: {err.strerror}") from None
    try:
        doc = json.loads(data.decode("utf-8-sig"))        # a byte-order mark is allowed
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text ({err.reason} at byte {err.start} of the file); "
                         f"save it as UTF-8") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}:{err.colno}: not valid JSON: {err.msg}") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc

"""Decoding text files the same way in every reader: byte-order marks, line ends, bad bytes.

- Encoding: UTF-8. A UTF-8 byte-order mark at the start is removed, and the readers report it
  (it would otherwise stick to the first token). A file that starts with a UTF-16 or UTF-32
  byte-order mark is decoded as such, and reported too. Anything else must be UTF-8: bytes that
  are not give an error naming the file, the line and the byte (or, in the readers that skip bad
  rows, skip that line only).
- Lines end at ``\\n`` or ``\\r\\n`` only. A lone ``\\r`` (or any other Unicode line break, such
  as U+2028) is an ordinary character inside a line, so line numbers in error messages are the
  ones an editor shows and ``wc -l`` counts. A final line end makes no extra empty line.
- A file that cannot be read (missing, a directory, no permission) or is empty raises an error
  naming the file, and so does one that cannot be text as expected: NUL bytes in its first 4 kB
  (UTF-16 without its mark, or a binary file), or lines that end in CR alone.
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Iterator, NamedTuple

__all__ = ["Decoded", "decode", "read_bytes", "read_text", "read_text_noted", "lines", "split_lines"]

# longest first: the UTF-32 LE mark starts with the UTF-16 LE one
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 LE"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 BE"),
         (codecs.BOM_UTF8, "utf-8", "UTF-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"), (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"))


class Decoded(NamedTuple):
    """UTF-8 bytes without a byte-order mark, and what was done to get them."""
    data: bytes
    note: str          # "" or e.g. "removed a UTF-8 byte-order mark"


def decode(data: bytes, name: str, error: type = ValueError) -> Decoded:
    """Strip a UTF-8 byte-order mark, or decode a UTF-16/32 file that starts with its mark, into
    UTF-8 bytes (which may still hold undecodable lines: see ``lines``)."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            if codec == "utf-8":
                return Decoded(data[len(bom):], "removed a UTF-8 byte-order mark")
            try:
                text = data[len(bom):].decode(codec)
            except UnicodeDecodeError as e:
                raise error(f"{name}: starts with a {label} byte-order mark but is not {label} text "
                            f"({e.reason} at byte {e.start + len(bom)}); save it as UTF-8") from None
            return Decoded(text.encode("utf-8"),
                           f"decoded from {label} (byte-order mark); UTF-8 is expected")
    head = data[:4096]
    if head.count(0) * 10 > len(head):
        raise error(f"{name}: holds NUL bytes: UTF-16 or UTF-32 text without a byte-order mark, "
                    f"or not text at all; save it as UTF-8 text")
    if b"\n" not in data and data.count(b"\r") > 1:
        raise error(f"{name}: its lines end in CR alone (classic Mac OS), but only LF and CR LF end "
                    f"lines; convert it, e.g. tr '\\r' '\\n' < OLD > NEW")
    return Decoded(data, "")


def read_bytes(path: str | os.PathLike, error: type = ValueError, missing: str = "no such file",
               allow_empty: bool = False) -> Decoded:
    """The bytes of the file at ``path``, decoded (``decode``); errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {missing}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder; expected a file") from None
    except OSError as e:
        raise error(f"{path}: cannot read: {e.strerror}") from None
    decoded = decode(data, str(path), error)
    if not decoded.data and not allow_empty:
        raise error(f"{path}: empty file")
    return decoded


def split_lines(data: bytes) -> list[bytes]:
    """The lines of ``data``: split at ``\\n``, a ``\\r`` before it removed; no extra empty line
    after a final line end."""
    out = data.split(b"\n")
    if out and out[-1] == b"":
        out.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in out]


def lines(data: bytes, errors: str = "strict") -> Iterator[tuple[int, str | None, str]]:
    """(line number from 1, text without its line end or None if undecodable, reason) for each
    line of ``data`` (a ``Decoded.data``). ``errors="replace"`` decodes bad bytes as U+FFFD."""
    for n, raw in enumerate(split_lines(data), start=1):
        try:
            yield n, raw.decode("utf-8", errors=errors), ""
        except UnicodeDecodeError as e:
            yield n, None, f"undecodable UTF-8 bytes at byte {e.start}: {raw[e.start:e.start + 4]!r}"


def read_text(path: str | os.PathLike, error: type = ValueError, missing: str = "no such file",
              allow_empty: bool = False) -> str:
    """A whole UTF-8 file as one string, ``\\r\\n`` turned into ``\\n`` (a lone ``\\r`` kept) and a
    byte-order mark removed. A missing file raises FileNotFoundError, anything else wrong
    ``error`` (a ValueError subclass), naming the file and the line and byte of bad bytes."""
    return read_text_noted(path, error, missing, allow_empty)[0]


def read_text_noted(path: str | os.PathLike, error: type = ValueError, missing: str = "no such file",
                    allow_empty: bool = False) -> tuple[str, str]:
    """``read_text``, and the note of ``decode`` ("" or what was done to the bytes)."""
    data, note = read_bytes(path, error, missing, allow_empty)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise error(f"{path}:{line}: not UTF-8 text ({e.reason}: {data[e.start:e.start + 4]!r} at "
                    f"byte {column} of the line); save the file as UTF-8") from None
    return text.replace("\r\n", "\n"), note

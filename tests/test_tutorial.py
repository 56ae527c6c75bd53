"""docs/tutorial.md cannot rot: its Python blocks run here, in order, in one namespace, and each
``output`` block is what the Python block right above it prints.

The rules the runner enforces (``run_markdown``):

- every fenced block whose info string starts with ``python`` runs, top to bottom, in one shared
  namespace, so a later block uses what an earlier one defined (as a reader pasting them would);
- a fenced ``output`` block directly after a Python block (only blank lines between) is compared
  with what that block printed, with doctest's ELLIPSIS: ``...`` stands for any text (used only
  where a run differs from the next, e.g. tokens per second);
- a Python block that prints and shows no ``output`` block fails, and so does an ``output`` block
  with no Python block above it: every value a reader sees was printed by the code above it;
- an exception names the Markdown file and line (blocks are compiled at their own line numbers,
  so a traceback points into docs/tutorial.md).

``python tests/test_tutorial.py [FILE.md]`` runs a Markdown file the same way and prints what each
block prints, with its line number: the tool for writing a new section.
"""
from __future__ import annotations

import contextlib
import doctest
import io
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"


class Block(NamedTuple):
    info: str            # the fence's info string: "python", "output", "text", ...
    line: int            # 1-based line of the block's first content line
    text: str            # the content, each line ending in "\n"
    after_python: bool   # only blank lines separate this block from a Python block above it


class BlockFailed(AssertionError):
    """A block of a Markdown file failed; the message names the file and line."""


def fenced_blocks(markdown: str) -> list[Block]:
    """The ``` fenced blocks of ``markdown``, in order."""
    blocks, lines = [], markdown.splitlines(keepends=True)
    i, last_python_end = 0, None          # index of the line after the last Python block's fence
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped.startswith("```"):
            if stripped:
                last_python_end = None
            i += 1
            continue
        info, start = stripped[3:].strip(), i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise BlockFailed(f"line {i + 1}: the block opened here is never closed")
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines[start:end])
        blocks.append(Block(info, start + 1, text, last_python_end is not None))
        last_python_end = end + 1 if info.split()[:1] == ["python"] else None
        i = end + 1
    return blocks


def _is(block: Block, kind: str) -> bool:
    return block.info.split()[:1] == [kind]


def run_markdown(markdown: str, name: str = "<markdown>", show: bool = False) -> dict:
    """Run the Python blocks of ``markdown`` as the module docstring says; returns the namespace.

    Raises BlockFailed (naming ``name`` and the line) at the first block that breaks a rule.
    With ``show``, prints each block's output (and its time) instead of only checking it.
    """
    blocks = fenced_blocks(markdown)
    namespace = {"__name__": "__tutorial__"}
    checker = doctest.OutputChecker()
    for k, block in enumerate(blocks):
        if _is(block, "output") and not (block.after_python and _is(blocks[k - 1], "python")):
            raise BlockFailed(f"{name}:{block.line}: an output block must follow a python block")
        if not _is(block, "python"):
            continue
        code = compile("\n" * (block.line - 1) + block.text, name, "exec")
        printed = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(printed):
            exec(code, namespace)
        got = printed.getvalue()
        if show:
            print(f"--- {name}:{block.line} ({time.perf_counter() - t0:.2f} s)\n{got}", end="")
            continue
        shown = blocks[k + 1] if k + 1 < len(blocks) and _is(blocks[k + 1], "output") \
            and blocks[k + 1].after_python else None
        if shown is None:
            if got:
                raise BlockFailed(f"{name}:{block.line}: the block prints but no output block shows "
                                  f"it; it printed:\n{got}")
            continue
        if not checker.check_output(shown.text, got, doctest.ELLIPSIS):
            raise BlockFailed(f"{name}:{shown.line}: the output block is not what the python block "
                              f"at line {block.line} prints.\n--- shown:\n{shown.text}--- printed:\n{got}")
    return namespace


def test_every_block_of_the_tutorial_runs_and_prints_what_it_shows():
    namespace = run_markdown(TUTORIAL.read_text(encoding="utf-8"), str(TUTORIAL))
    assert "forward" in namespace and "backward" in namespace       # the hand-written RNN ran


# ---- the runner itself: it must be able to fail ---------------------------------------------------

def _md(*parts: str) -> str:
    return "\n".join(parts) + "\n"


PY = "```python"
OUT = "```output"
END = "```"


def test_blocks_share_one_namespace_and_outputs_match_with_ellipsis():
    md = _md("Text.", "", PY, "x = 2", END, "", "More text.", PY, "print(x * 21)", "print('12.3 tok/s')",
             END, "", OUT, "42", "... tok/s", END, "", "```text", "not run", END)
    assert run_markdown(md)["x"] == 2


@pytest.mark.parametrize("parts, message", [
    ((PY, "print(41)", END, OUT, "42", END), r"<markdown>:5: the output block is not what the python "
                                             r"block at line 2 prints"),
    ((PY, "print('hidden')", END, "", "Text.", OUT, "hidden", END), r"<markdown>:2: the block prints but"),
    (("Text.", OUT, "42", END), r"<markdown>:3: an output block must follow a python block"),
    ((PY, "x = 1", END, "```text", "x", END, OUT, "x", END), r":8: an output block must follow"),
    ((PY, "print(1)", END, "", "between", "", OUT, "1", END), r"<markdown>:2: the block prints but"),
    ((PY, "print(1)",), r"line 1: the block opened here is never closed"),
])
def test_the_runner_fails_on_a_broken_rule(parts, message):
    with pytest.raises(BlockFailed, match=message):
        run_markdown(_md(*parts))


def test_an_error_in_a_block_points_at_its_markdown_line():
    md = _md("Intro.", "", PY, "a = 1", "b = a / 0", END)
    with pytest.raises(ZeroDivisionError) as err:
        run_markdown(md, "doc.md")
    frame = err.traceback[-1]
    assert (str(frame.path), frame.lineno + 1) == ("doc.md", 5)     # lineno is 0-based


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else TUTORIAL
    t0 = time.perf_counter()
    run_markdown(path.read_text(encoding="utf-8"), str(path), show=True)
    print(f"--- {time.perf_counter() - t0:.1f} s in all")

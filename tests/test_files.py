"""bptt.files: atomic writes, whole-folder replacement, and the clean-up of killed runs' leftovers."""
import os
import subprocess
import sys

import pytest

from bptt import files


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _leftover(directory, name, pid, kind="tmp", folder=False):
    path = directory / f".{name}.{pid}.0123456789ab.{kind}"
    if folder:
        path.mkdir()
        (path / "inside.json").write_text("{}")
    else:
        path.write_text("half")
    return path


def test_atomic_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    files.write_text(tmp_path / "a.txt", "one")
    files.write_text(tmp_path / "a.txt", "two")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "two"


def test_a_write_removes_the_leftovers_of_killed_writes_of_the_same_file(tmp_path, dead_pid):
    dead = _leftover(tmp_path, "a.txt", dead_pid)
    legacy = tmp_path / ".a.txt.0123456789ab.tmp"                # before temp names held the pid
    legacy.write_text("half")
    other = _leftover(tmp_path, "b.txt", dead_pid)
    mine = _leftover(tmp_path, "a.txt", os.getpid())            # a live process's: untouched
    files.write_text(tmp_path / "a.txt", "new")
    assert not dead.exists() and not legacy.exists()
    assert other.exists() and mine.exists()


def test_clean_leftovers_removes_dead_files_and_folders_only(tmp_path, dead_pid):
    removed = [_leftover(tmp_path, "m.safetensors", dead_pid),
               _leftover(tmp_path, "best", dead_pid, "tmp", folder=True)]
    (tmp_path / "best").mkdir()
    removed.append(_leftover(tmp_path, "best", dead_pid, "old", folder=True))
    kept = [_leftover(tmp_path, "x", os.getpid()), tmp_path / "config.json", tmp_path / ".hidden"]
    kept[1].write_text("{}")
    kept[2].write_text("")
    assert files.clean_leftovers(tmp_path) == sorted(removed)
    assert not any(p.exists() for p in removed) and all(p.exists() for p in kept)


def test_replace_directory_swaps_in_the_complete_new_folder(tmp_path):
    def write(version):
        def w(folder):
            (folder / "model.txt").write_text(version)
            (folder / "vocab.txt").write_text(version)
        return w
    files.replace_directory(tmp_path / "best", write("1"))
    files.replace_directory(tmp_path / "best", write("2"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
    assert {p.name: p.read_text() for p in (tmp_path / "best").iterdir()} == {"model.txt": "2", "vocab.txt": "2"}


def test_a_failed_folder_write_keeps_the_old_folder(tmp_path):
    files.replace_directory(tmp_path / "best", lambda d: (d / "model.txt").write_text("good"))

    def broken(folder):
        (folder / "model.txt").write_text("half")
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        files.replace_directory(tmp_path / "best", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
    assert (tmp_path / "best" / "model.txt").read_text() == "good"


@pytest.mark.parametrize("left, expected", [(("ready", "old"), "new"), (("old",), "old"), (("tmp", "old"), "old")])
def test_a_kill_between_the_renames_is_recovered(tmp_path, dead_pid, left, expected):
    """``best`` is missing: the newest complete folder beside it comes back, never a .tmp one."""
    for kind in left:
        folder = _leftover(tmp_path, "best", dead_pid, kind, folder=True)
        (folder / "which").write_text({"ready": "new", "old": "old", "tmp": "half"}[kind])
    files.clean_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
    assert (tmp_path / "best" / "which").read_text() == expected


def test_read_json_object_names_the_file_and_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert files.read_json_object(path) == {"a": 1}
    path.write_text('{\n"a": 1,\n}')
    with pytest.raises(ValueError, match=r"c\.json:3:1: not valid JSON: Expecting property name"):
        files.read_json_object(path)
    path.write_text("[1]")
    with pytest.raises(ValueError, match=r"c\.json: expected a JSON object, got list"):
        files.read_json_object(path)
    with pytest.raises(FileNotFoundError, match=r"nope\.json: no such file"):
        files.read_json_object(tmp_path / "nope.json")
    with pytest.raises(ValueError, match=r"cannot read: Is a directory"):
        files.read_json_object(tmp_path)

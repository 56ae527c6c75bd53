"""The shared data sets (``../shared/data`` beside the repository), for the tests that read them.

``shared_data("sst2", "dev.tsv")`` is the path of that file. When it is absent (a user's clone
has no ``../shared``), the test is skipped with a message that names the file; when the
environment variable ``CI`` is set, a missing file fails the test instead, so CI always runs
them. ``BPTT_SHARED_DATA`` points at another copy of the folder.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BPTT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """The path of ``DATA/<parts>``; skip (or, under CI, fail) naming the file if it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        message = (f"needs the shared data file {path}, which is absent (the project's "
                   f"../shared/data; BPTT_SHARED_DATA points at a copy elsewhere)")
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {message}", pytrace=False)
        pytest.skip(message)
    return path

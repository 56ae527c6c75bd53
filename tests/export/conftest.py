"""The texts the export tests run on (``export_helpers.mixed_texts``), read once per session."""
import pytest

from export_helpers import FAST_TEXTS, SLOW_TEXTS, mixed_texts


@pytest.fixture(scope="session")
def fast_texts() -> list[str]:
    return mixed_texts(FAST_TEXTS)


@pytest.fixture(scope="session")
def slow_texts() -> list[str]:
    return mixed_texts(SLOW_TEXTS)

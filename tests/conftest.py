"""Shared test setup: NumPy's BLAS on one thread.

The matrices in tests are small: more BLAS threads only wait for each other, and on a busy
2-core machine they make some tests many times slower. (Benchmarks set threads themselves.)
"""
import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    with threadpool_limits(1):
        yield

r"""What the compiled kernels share: the gate non-linearities, and the BLAS matrix product.

**tanh and sigma.** float64 uses libm's ``tanh`` (exact to an ulp, like NumPy). float32 uses a
bounded rational function, vectorised by LLVM (0.7 ns per element against 4 ns for NumPy's
``np.tanh`` measured on the machine of docs/numba-experiment.md)::

    tanh(x) ~= x P(x^2) / Q(x^2)     P of degree 6 (odd numerator of degree 13), Q of degree 3

with Eigen's coefficients (``generic_fast_tanh_float``), x clamped to +-7.905311 (where float32
tanh rounds to +-1), and x itself for |x| < 0.0004. ``bench/numba_tanh.py`` measures it against
float64 tanh on every float32 input: max error stated in docs/performance.md. sigma goes
through the same function: sigma(x) = tanh(x/2)/2 + 1/2 (docs/math.md section 7).

**Matrix products.** The recurrent product of each step (``h_{t-1} W^T``, and ``da W`` going
back) is called inside the compiled time loop, through the very BLAS that NumPy uses (found with
threadpoolctl, its ``cblas_?gemm`` registered with LLVM under a fixed name so that the cached
machine code links to it in every process), so threads follow ``threadpoolctl`` limits as
NumPy's products do. ``gemm_abi()`` says which integer width that BLAS takes (64 for NumPy's own
wheels, 32 for an LP64 build such as MKL's or a distribution's); with no usable BLAS (0) the
kernels multiply with their own loop, slower for large matrices but the same numbers.

Note on numba's disk cache (``cache=True``): it tracks each kernel file's own timestamp, not this
one's. After editing this file, touch ``numba_rnn.py``, ``numba_lstm.py`` and ``numba_gru.py``
(or delete their ``__pycache__/*.nbi``) so that the kernels recompile.
"""
from __future__ import annotations

import ctypes
import math
import os
import warnings

import llvmlite.binding as llvm
import numpy as np
from numba import cfunc, njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

# ---- tanh, sigma ----------------------------------------------------------------------------------

CLAMP = np.float32(7.90531110763549805)      # float32 tanh rounds to +-1 beyond this
_A = [np.float32(c) for c in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                               5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                               -2.76076847742355e-16)]       # x, x^3, .., x^13
_B = [np.float32(c) for c in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                               1.19825839466702e-06)]        # 1, x^2, x^4, x^6
A1, A3, A5, A7, A9, A11, A13 = _A
B0, B2, B4, B6 = _B
TINY = np.float32(0.0004)
HALF32, ONE32 = np.float32(0.5), np.float32(1.0)


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def tanh32(x):
    """The rational float32 tanh (see the module docstring)."""
    y = min(max(x, -CLAMP), CLAMP)
    y2 = y * y
    p = y2 * A13 + A11
    p = y2 * p + A9
    p = y2 * p + A7
    p = y2 * p + A5
    p = y2 * p + A3
    p = y2 * p + A1
    p = y * p
    q = y2 * B6 + B4
    q = y2 * q + B2
    q = y2 * q + B0
    return x if not abs(x) >= TINY else p / q           # x itself when tiny, and NaN stays NaN


def tanh(x):
    """tanh for the kernels: rational for float32, libm for float64 (dispatched at compile time)."""
    return math.tanh(x)


def sigmoid(x):
    """sigma(x) = tanh(x/2)/2 + 1/2, with ``tanh`` above."""
    return 0.5 * math.tanh(0.5 * x) + 0.5


@overload(tanh)
def _tanh(x):
    if x == types.float32:
        return lambda x: tanh32(x)
    return lambda x: math.tanh(x)


@overload(sigmoid)
def _sigmoid(x):
    if x == types.float32:
        return lambda x: HALF32 * tanh32(HALF32 * x) + HALF32
    return lambda x: 0.5 * math.tanh(0.5 * x) + 0.5


def one(a):
    """1 in the dtype of the array ``a`` (a bare ``1`` would turn float32 arithmetic into float64)."""
    return a.dtype.type(1)


@overload(one)
def _one(a):
    value = np.float32(1) if a.dtype == types.float32 else np.float64(1)
    return lambda a: value


# ---- BLAS -------------------------------------------------------------------------------------------

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_i32, _i64, _vp = types.int32, types.int64, types.voidptr


def _signature(real, integer):
    return types.void(_i32, _i32, _i32, integer, integer, integer, real, _vp, integer, _vp, integer,
                      real, _vp, integer)


# one symbol per (precision, integer width); gemm() below picks by the abi argument
_NAMES = {("s", 64): "bptt_cblas_sgemm_i64", ("d", 64): "bptt_cblas_dgemm_i64",
          ("s", 32): "bptt_cblas_sgemm_i32", ("d", 32): "bptt_cblas_dgemm_i32"}
_EXTERNAL = {key: types.ExternalFunction(name, _signature(types.float32 if key[0] == "s" else types.float64,
                                                          _i64 if key[1] == 64 else _i32))
             for key, name in _NAMES.items()}
sgemm64, dgemm64 = _EXTERNAL[("s", 64)], _EXTERNAL[("d", 64)]
sgemm32, dgemm32 = _EXTERNAL[("s", 32)], _EXTERNAL[("d", 32)]


def _numpy_blas_path() -> str | None:
    """File of the BLAS that NumPy's products call (threadpoolctl), or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    found = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    ours = [i for i in found if os.path.dirname(i["filepath"]).startswith(numpy_dir)
            and "numpy" in i["filepath"]]
    others = [i for i in found if "torch" not in i["filepath"]]
    for info in ours or others:
        return info["filepath"]
    return None


def _find_gemm(lib: ctypes.CDLL):
    """(sgemm address, dgemm address, integer width) of the library's CBLAS, or None."""
    for s, d, width in (("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", 64),
                        ("cblas_sgemm64_", "cblas_dgemm64_", 64),
                        ("cblas_sgemm_64", "cblas_dgemm_64", 64),
                        ("cblas_sgemm", "cblas_dgemm", 32)):
        try:
            fs, fd = getattr(lib, s), getattr(lib, d)
        except AttributeError:
            continue
        if width == 32 and hasattr(lib, "openblas_get_config"):     # an unsuffixed ILP64 OpenBLAS
            lib.openblas_get_config.restype = ctypes.c_char_p
            if b"USE64BITINT" in lib.openblas_get_config():
                width = 64
        return (ctypes.cast(fs, ctypes.c_void_p).value, ctypes.cast(fd, ctypes.c_void_p).value, width)
    return None


@cfunc(_signature(types.float64, _i64))
def _no_blas(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):   # never called
    pass


def _register() -> int:
    """Register the four symbols with LLVM; return the integer width to call with (0: no BLAS)."""
    found = None
    path = None if os.environ.get("BPTT_NUMBA_BLAS") == "off" else _numpy_blas_path()
    if path is not None:
        try:
            found = _find_gemm(ctypes.CDLL(path))
        except OSError:
            found = None
    if found is None:
        warnings.warn("bptt: no CBLAS found for the compiled path; its matrix products run in its "
                      "own loops (slower for large matrices)", RuntimeWarning, stacklevel=2)
    for (prec, width), name in _NAMES.items():
        if found is not None and found[2] == width:
            llvm.add_symbol(name, found[0] if prec == "s" else found[1])
        else:
            llvm.add_symbol(name, _no_blas.address)             # linked, never called
    return 0 if found is None else found[2]


_ABI = _register()


def gemm_abi() -> int:
    """64 or 32: the BLAS integer width the kernels call with; 0: no BLAS, own loops."""
    return _ABI


@intrinsic
def _ptr(typingctx, arr):
    """The address of an array's first element."""
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.bitcast(ary.data, cgutils.voidptr_t)
    return types.voidptr(arr), codegen


def gemm(a, b, c, m, trans_b, beta, abi):
    """c[:m] = a[:m] @ op(b) + beta * c[:m], on C-contiguous 2-D arrays of one dtype.

    op(b) = b.T if trans_b (b of shape (N, K)) else b (shape (K, N)); a (>= m, K), c (>= m, N);
    abi from ``gemm_abi()``. Callable from compiled code only.
    """
    raise NotImplementedError("gemm is called from the compiled kernels")


@overload(gemm)
def _gemm(a, b, c, m, trans_b, beta, abi):
    single = a.dtype == types.float32
    real = np.float32 if single else np.float64
    f64, f32 = (sgemm64, sgemm32) if single else (dgemm64, dgemm32)

    def impl(a, b, c, m, trans_b, beta, abi):
        K = a.shape[1]
        N = c.shape[1]
        tb = TRANS if trans_b else NO_TRANS
        if m == 0:
            return
        if abi == 64:
            f64(ROW_MAJOR, NO_TRANS, tb, m, N, K, real(1.0), _ptr(a), K, _ptr(b), b.shape[1],
                real(beta), _ptr(c), N)
        elif abi == 32:
            f32(ROW_MAJOR, NO_TRANS, tb, np.int32(m), np.int32(N), np.int32(K), real(1.0), _ptr(a),
                np.int32(K), _ptr(b), np.int32(b.shape[1]), real(beta), _ptr(c), np.int32(N))
        else:
            _own_gemm(a, b, c, m, trans_b, beta)
    return impl


SMALL = 8               # rows; below this a BLAS call can cost more than the product itself
BIG = 1 << 20           # bytes; a weight matrix larger than this is slow for BLAS to pack


def wide(W) -> bool:
    """Is W too large for BLAS to pack cheaply on every step (see ``step_abi``)?"""
    return W.nbytes > BIG


@njit(cache=True)
def step_abi(n, big, trans_b, abi):
    """The abi for one step's product with n rows: BLAS (abi) unless n is small and either W is
    big (BLAS packs all of W on every call: at H = 512 that costs ~0.5 ms, the product with one
    row 0.08 ms) or W is transposed and n > 1 (OpenBLAS is slow there); then 0, the kernels' own
    loop. Measured on the benchmark machine (bench/results/speed.md)."""
    if n < SMALL and (big or (trans_b and n > 1)):
        return 0
    return abi


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _own_gemm(a, b, c, m, trans_b, beta):
    """The same product without BLAS, reading b once: for a few rows (a step at small B) this
    beats a BLAS call, which packs all of b on every call. Not transposed: c_i += a_ik b_k for
    every row k of b (axpy); transposed: c_ij += <a_i, b_j> for every row j of b (``_dot``)."""
    K = a.shape[1]
    N = c.shape[1]
    if beta == 0:
        c[:m] = 0
    if trans_b:
        for j in range(N):
            bj = b[j]
            for i in range(m):
                c[i, j] += _dot(a[i], bj, K)
    else:
        for k in range(K):
            bk = b[k]
            for i in range(m):
                v = a[i, k]
                row = c[i]
                for j in range(N):
                    row[j] += v * bk[j]


@njit(cache=True, error_model="numpy", fastmath={"contract", "reassoc"})
def _dot(x, y, K):
    """sum_k x_k y_k, the sum reassociated so that it vectorises (the order of the additions
    differs from BLAS's, within rounding)."""
    s = x[0] * y[0] - x[0] * y[0]
    for k in range(K):
        s += x[k] * y[k]
    return s

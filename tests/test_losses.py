"""Losses: finite differences in float64, parity with torch.nn.functional, stability."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bptt.gradcheck import check_grads, rel_error
from bptt.losses import log_softmax, mse, softmax, softmax_cross_entropy

T, B, C, D = 4, 3, 5, 2
IGNORE = -100


def _problem(rng, dtype=np.float64, scale=1.0):
    logits = (scale * rng.standard_normal((T, B, C))).astype(dtype)      # (T, B, C)
    targets = rng.integers(0, C, size=(T, B))                            # (T, B)
    mask = np.ones((T, B), dtype=bool)
    mask[3:, 0] = mask[2:, 2] = False                                    # two sequences end early
    weights = rng.uniform(0.5, 2.0, C).astype(dtype)                     # (C,)
    return logits, targets, mask, weights


def _torch_ce(logits, targets, mask, reduction, weights, smoothing):
    """torch's loss and dlogits, the mask emulated with ignore_index."""
    z = torch.from_numpy(logits).requires_grad_()
    y = torch.from_numpy(np.where(mask, targets, IGNORE) if mask is not None else targets)
    w = None if weights is None else torch.from_numpy(weights)
    loss = F.cross_entropy(z.reshape(-1, C), y.reshape(-1), weight=w, ignore_index=IGNORE,
                           reduction=reduction, label_smoothing=smoothing)
    loss.backward()
    return loss.item(), z.grad.numpy()


CASES = [  # (use mask, use class weights, label smoothing)
    (False, False, 0.0), (True, False, 0.0), (True, True, 0.0), (True, False, 0.2),
    (True, True, 0.1), (False, True, 0.3),
]


@pytest.mark.parametrize("use_mask, use_weights, smoothing", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_gradient_matches_finite_differences(use_mask, use_weights, smoothing,
                                                           reduction):
    logits, targets, mask, weights = _problem(np.random.default_rng(1))
    kw = dict(mask=mask if use_mask else None, reduction=reduction,
              class_weights=weights if use_weights else None, label_smoothing=smoothing)
    _, dlogits = softmax_cross_entropy(logits, targets, **kw)
    err = check_grads(lambda: softmax_cross_entropy(logits, targets, **kw)[0],
                      {"logits": logits}, {"logits": dlogits})
    assert err["logits"] < 1e-6


@pytest.mark.parametrize("use_mask, use_weights, smoothing", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_cross_entropy_matches_torch(use_mask, use_weights, smoothing, reduction, dtype, tol):
    logits, targets, mask, weights = _problem(np.random.default_rng(2), dtype)
    mask = mask if use_mask else None
    weights = weights if use_weights else None
    loss, dlogits = softmax_cross_entropy(logits, targets, mask, reduction, weights, smoothing)
    t_loss, t_grad = _torch_ce(logits, targets, mask, reduction, weights, smoothing)
    assert dlogits.dtype == dtype and dlogits.shape == logits.shape
    assert abs(loss - t_loss) <= tol * abs(t_loss)
    assert rel_error(dlogits, t_grad) < tol
    if mask is not None:
        assert np.all(dlogits[~mask] == 0)


def test_cross_entropy_per_sequence_matches_torch():
    rng = np.random.default_rng(3)
    logits, targets = rng.standard_normal((B, C)), rng.integers(0, C, B)  # (B, C), (B,)
    loss, dlogits = softmax_cross_entropy(logits, targets)
    z = torch.from_numpy(logits).requires_grad_()
    t_loss = F.cross_entropy(z, torch.from_numpy(targets))
    t_loss.backward()
    assert abs(loss - t_loss.item()) < 1e-12
    assert rel_error(dlogits, z.grad.numpy()) < 1e-10
    p = softmax(logits)                                          # p - onehot over B
    p[np.arange(B), targets] -= 1
    assert rel_error(dlogits, p / B) < 1e-12


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_cross_entropy_is_stable_for_huge_logits(dtype, tol):
    logits, targets, mask, weights = _problem(np.random.default_rng(4), dtype, scale=1e4)
    loss, dlogits = softmax_cross_entropy(logits, targets, mask, class_weights=weights)
    t_loss, t_grad = _torch_ce(logits, targets, mask, "mean", weights, 0.0)
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    assert loss > 1000                                            # wrong classes by ~1e4
    assert abs(loss - t_loss) <= tol * abs(t_loss)
    assert rel_error(dlogits, t_grad) < tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_and_softmax_match_torch_at_huge_values(dtype):
    z = (1e4 * np.random.default_rng(5).standard_normal((T, B, C))).astype(dtype)
    z[0, 0] = [1e4, 1e4, -1e4, 0, 1e4]
    tol = 1e-12 if dtype == np.float64 else 1e-6
    zt = torch.from_numpy(z)
    assert rel_error(log_softmax(z), F.log_softmax(zt, -1).numpy()) < tol
    assert rel_error(softmax(z), F.softmax(zt, -1).numpy()) < tol
    assert rel_error(softmax(z, axis=0), F.softmax(zt, 0).numpy()) < tol
    np.testing.assert_allclose(softmax(z[0, 0]), [1 / 3, 1 / 3, 0, 0, 1 / 3], rtol=1e-6)


def test_out_of_range_target_raises_with_value_and_range():
    logits, targets, mask, _ = _problem(np.random.default_rng(6))
    targets[1, 2] = C
    with pytest.raises(ValueError, match=r"targets\[1, 2\] = 5 is outside the valid range \[0, 4\]"):
        softmax_cross_entropy(logits, targets)
    targets[1, 2] = 0
    targets[3, 0] = -1                                            # padding: not counted, not read
    assert not mask[3, 0]
    ref = softmax_cross_entropy(logits, np.where(mask, targets, 0), mask)
    loss, dlogits = softmax_cross_entropy(logits, targets, mask)
    assert loss == ref[0] and np.array_equal(dlogits, ref[1])
    with pytest.raises(ValueError, match=r"= -1 is outside"):
        softmax_cross_entropy(logits, targets)


def test_bad_mask_and_reduction_raise():
    logits, targets, mask, _ = _problem(np.random.default_rng(7))
    with pytest.raises(ValueError, match="only 0 and 1"):
        softmax_cross_entropy(logits, targets, mask * 0.5)
    with pytest.raises(ValueError, match=r"mask must have shape \(4, 3\)"):
        softmax_cross_entropy(logits, targets, mask[:, :2])
    with pytest.raises(ValueError, match="zero counted targets"):
        softmax_cross_entropy(logits, targets, np.zeros_like(mask))
    with pytest.raises(ValueError, match="reduction must be"):
        softmax_cross_entropy(logits, targets, reduction="none")


def test_float_mask_equals_bool_mask():
    logits, targets, mask, _ = _problem(np.random.default_rng(8))
    a = softmax_cross_entropy(logits, targets, mask)
    b = softmax_cross_entropy(logits, targets, mask.astype(np.float32))
    assert a[0] == b[0] and np.array_equal(a[1], b[1])


# ---------------------------------------------------------------- MSE

@pytest.mark.parametrize("mask_shape", [None, (T, B), (T, B, D)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_gradient_matches_finite_differences(mask_shape, reduction):
    rng = np.random.default_rng(9)
    pred, target = rng.standard_normal((2, T, B, D))
    mask = None if mask_shape is None else rng.random(mask_shape) < 0.7
    _, dpred = mse(pred, target, mask, reduction)
    err = check_grads(lambda: mse(pred, target, mask, reduction)[0], {"pred": pred}, {"pred": dpred})
    assert err["pred"] < 1e-6


@pytest.mark.parametrize("mask_shape", [None, (T, B), (T, B, D)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_mse_matches_torch(mask_shape, reduction, dtype, tol):
    rng = np.random.default_rng(10)
    pred, target = rng.standard_normal((2, T, B, D)).astype(dtype)
    mask = None if mask_shape is None else rng.random(mask_shape) < 0.7
    loss, dpred = mse(pred, target, mask, reduction)

    p = torch.from_numpy(pred).requires_grad_()
    sel = slice(None) if mask is None else torch.from_numpy(mask)    # manual selection
    t_loss = F.mse_loss(p[sel], torch.from_numpy(target)[sel], reduction=reduction)
    t_loss.backward()
    assert dpred.dtype == dtype
    assert abs(loss - t_loss.item()) <= tol * abs(t_loss.item())
    assert rel_error(dpred, p.grad.numpy()) < tol


def test_mse_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        mse(np.zeros((2, 3)), np.zeros((3, 2)))

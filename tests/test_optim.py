"""Optimizers, clipping and schedules against torch 2.13 (float64) as the oracle."""
import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from bptt import optim
from bptt.sparse import SparseRows

SHAPES = {"weight_ih_l0": (8, 5), "bias_ih_l0": (8,), "embedding.weight": (10, 4)}
ROWS = np.array([1, 4, 5, 9])                   # the rows an embedding gradient touches
STEPS = 10

CASES = [
    ("SGD", {}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.05,
                 "initial_accumulator_value": 0.2, "eps": 1e-6}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.05, "alpha": 0.9, "centered": True, "momentum": 0.5, "eps": 1e-4}),
    ("Adam", {}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.01}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}),
]
CASE_IDS = [f"{name}-{'-'.join(kw) or 'defaults'}" for name, kw in CASES]


def make_params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def make_grads(n_steps, seed=1, dtype=np.float64):
    """Different random dense gradients at each step (the embedding's nonzero only on ROWS)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_steps):
        g = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
        g["embedding.weight"][np.setdiff1d(np.arange(10), ROWS)] = 0
        out.append(g)
    return out


def sparse(g):
    """The embedding gradient of a dense step as SparseRows."""
    emb = g["embedding.weight"]
    return {**g, "embedding.weight": SparseRows(ROWS, emb[ROWS].copy(), emb.shape)}


def run_bptt(name, kwargs, params, grads_seq):
    opt = getattr(optim, name)(params, **kwargs)
    for g in grads_seq:
        opt.step(g)
    return opt


def run_torch(name, kwargs, params, grads_seq):
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = getattr(torch.optim, name)(list(tensors.values()), **kwargs)
    for g in grads_seq:
        for k, t in tensors.items():
            t.grad = None if g.get(k) is None else torch.tensor(g[k])
        opt.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


def assert_params_close(ours, theirs):
    for k in theirs:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-12, atol=0, err_msg=k)


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_optimizer_matches_torch(name, kwargs):
    params, grads_seq = make_params(), make_grads(STEPS)
    expected = run_torch(name, kwargs, params, grads_seq)
    start = {k: v.copy() for k, v in params.items()}
    run_bptt(name, kwargs, params, grads_seq)
    assert_params_close(params, expected)
    assert all(not np.allclose(params[k], start[k], rtol=1e-9, atol=0) for k in SHAPES)


@pytest.mark.parametrize("name,kwargs", [CASES[1], CASES[5], CASES[8], CASES[11]],
                         ids=["SGD", "Adagrad", "RMSprop", "Adam"])
def test_missing_or_none_grad_skips_parameter_like_torch(name, kwargs):
    """Per-parameter step counts and momentum buffers advance only when a gradient comes."""
    params, grads_seq = make_params(), make_grads(STEPS)
    for i, g in enumerate(grads_seq):
        if i % 3 == 0:
            g["bias_ih_l0"] = None
        if i in (0, 4, 5):
            del g["weight_ih_l0"]
    expected = run_torch(name, kwargs, params, grads_seq)
    run_bptt(name, kwargs, params, grads_seq)
    assert_params_close(params, expected)


def test_sparse_sgd_touches_only_rows_and_equals_dense():
    grads_seq = make_grads(STEPS)
    dense, rows = make_params(), make_params()
    start = rows["embedding.weight"].copy()
    run_bptt("SGD", {"lr": 0.1}, dense, grads_seq)
    run_bptt("SGD", {"lr": 0.1}, rows, [sparse(g) for g in grads_seq])
    for k in SHAPES:
        np.testing.assert_array_equal(rows[k], dense[k])
    untouched = np.setdiff1d(np.arange(10), ROWS)
    np.testing.assert_array_equal(rows["embedding.weight"][untouched], start[untouched])
    assert not np.array_equal(rows["embedding.weight"][ROWS], start[ROWS])


@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
                                         ("Adam", {"lr": 0.05}), ("AdamW", {"lr": 0.05})])
def test_sparse_grad_densified_equals_dense(name, kwargs):
    grads_seq = make_grads(STEPS)
    dense, rows = make_params(), make_params()
    run_bptt(name, kwargs, dense, grads_seq)
    run_bptt(name, kwargs, rows, [sparse(g) for g in grads_seq])
    for k in SHAPES:
        np.testing.assert_array_equal(rows[k], dense[k])


@pytest.mark.parametrize("name,kwargs", [c for c in CASES if c[1]], ids=[i for i, c in zip(CASE_IDS, CASES) if c[1]])
def test_state_dict_round_trip_resumes_exactly(name, kwargs):
    grads_seq = make_grads(STEPS)
    straight = make_params()
    run_bptt(name, kwargs, straight, grads_seq)

    params = make_params()
    first = run_bptt(name, kwargs, params, grads_seq[:5])
    saved = st_load(st_save(first.state_dict()))           # through safetensors bytes
    assert int(saved["step"]) == 5
    first.step(grads_seq[5])                                 # later steps must not alter `saved`
    resumed = {k: v.copy() for k, v in make_params().items()}
    run_bptt(name, kwargs, resumed, grads_seq[:5])           # the parameters as they were saved
    fresh = getattr(optim, name)(resumed, **{**kwargs, "lr": 123.0})
    fresh.load_state_dict(saved)
    assert fresh.lr == first.lr
    for g in grads_seq[5:]:
        fresh.step(g)
    for k in SHAPES:
        np.testing.assert_array_equal(resumed[k], straight[k])


def test_load_state_dict_rejects_wrong_shape_and_key():
    opt = run_bptt("Adam", {}, make_params(), make_grads(1))
    d = opt.state_dict()
    with pytest.raises(KeyError, match="momentum_buffer.bias_ih_l0"):
        opt.load_state_dict({**d, "momentum_buffer.bias_ih_l0": np.zeros(8)})
    with pytest.raises(ValueError, match=r"exp_avg.bias_ih_l0.*\(8,\)"):
        opt.load_state_dict({**d, "exp_avg.bias_ih_l0": np.zeros(7)})


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_float32_params_stay_float32_and_are_updated_in_place(name, kwargs):
    params = make_params(dtype=np.float32)
    arrays = dict(params)
    start = {k: v.copy() for k, v in params.items()}
    grads_seq = make_grads(3, dtype=np.float32)
    grads_seq[1]["bias_ih_l0"] = grads_seq[1]["bias_ih_l0"].astype(np.float64)   # cast, not promote
    grads_seq[2] = sparse(grads_seq[2])
    opt = run_bptt(name, kwargs, params, grads_seq)
    for k in SHAPES:
        assert params[k] is arrays[k] and params[k].dtype == np.float32
        assert not np.array_equal(params[k], start[k])
    assert all(v.dtype in (np.float32, np.int64) for v in opt.state_dict().values() if v.ndim)


def test_wrong_grad_shape_names_the_parameter():
    opt = optim.SGD(make_params())
    with pytest.raises(ValueError, match=r"grads\['bias_ih_l0'\] has shape \(7,\), expected \(8,\)"):
        opt.step({"bias_ih_l0": np.zeros(7)})


# --- clipping -------------------------------------------------------------------------------


def mixed_grads(scale):
    """Dense gradients plus a SparseRows one; and torch parameters holding them densely in .grad."""
    g = {k: v * scale for k, v in make_grads(1, seed=7)[0].items()}
    ours = {**sparse(g), "unused": None}
    theirs = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in g.values()]
    for t, v in zip(theirs, g.values()):
        t.grad = torch.tensor(v)
    return ours, theirs


def assert_grads_equal_torch(ours, theirs, exact=False):
    for g, t in zip([v for v in ours.values() if v is not None], theirs):
        dense = g.to_dense() if isinstance(g, SparseRows) else g
        if exact:
            np.testing.assert_array_equal(dense, t.grad.numpy())
        else:
            np.testing.assert_allclose(dense, t.grad.numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("norm_type", [2.0, 3.0, float("inf")])
@pytest.mark.parametrize("scale,max_norm", [(1.0, 0.5), (1.0, 1e3), (1e-3, 1e-2)])
def test_clip_grad_norm_matches_torch(norm_type, scale, max_norm):
    ours, theirs = mixed_grads(scale)
    before = {k: (v.values if isinstance(v, SparseRows) else v).copy() for k, v in ours.items() if v is not None}
    total = optim.clip_grad_norm(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total, expected.item(), rtol=1e-12, atol=0)
    clipped = total > max_norm
    assert_grads_equal_torch(ours, theirs, exact=not clipped)
    if clipped:
        assert optim.global_norm(ours, norm_type) == pytest.approx(max_norm, rel=1e-5)
    else:
        assert all(np.array_equal(before[k], v.values if isinstance(v, SparseRows) else v)
                   for k, v in ours.items() if v is not None)


def test_clip_grad_norm_scales_just_below_max_norm_like_torch():
    """torch scales by max_norm / (norm + 1e-6) whenever that is < 1, even if norm < max_norm."""
    ours, theirs = mixed_grads(1.0)
    max_norm = optim.global_norm(ours) + 5e-7
    optim.clip_grad_norm(ours, max_norm)
    torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert_grads_equal_torch(ours, theirs)
    assert not np.array_equal(ours["weight_ih_l0"], make_grads(1, seed=7)[0]["weight_ih_l0"])


def test_global_norm_is_norm_of_all_entries():
    ours, theirs = mixed_grads(1.0)
    flat = np.concatenate([t.grad.numpy().ravel() for t in theirs])
    np.testing.assert_allclose(optim.global_norm(ours), np.linalg.norm(flat), rtol=1e-12, atol=0)
    assert optim.global_norm({}) == 0.0


def test_clip_grad_value_matches_torch():
    ours, theirs = mixed_grads(1.0)
    optim.clip_grad_value(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    assert_grads_equal_torch(ours, theirs, exact=True)
    assert max(float(np.abs(t.grad.numpy()).max()) for t in theirs) == 0.7


# --- schedules ------------------------------------------------------------------------------

SCHEDULES = [
    ("StepLR", {"step_size": 7, "gamma": 0.3}, "StepLR", {"step_size": 7, "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}, "ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}, "CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    ("LinearWarmup", {"warmup_steps": 10, "start_factor": 0.1},
     "LinearLR", {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 10}),
]


def bptt_lrs(name, kwargs, n_steps, lr=0.1):
    opt = optim.SGD(make_params(), lr=lr)
    sched = getattr(optim, name)(opt, **kwargs)
    lrs = [opt.lr]
    for _ in range(n_steps):
        sched.step()
        assert sched.get_lr() == opt.lr
        lrs.append(opt.lr)
    return lrs, opt, sched


@pytest.mark.parametrize("name,kwargs,torch_name,torch_kwargs", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_matches_torch(name, kwargs, torch_name, torch_kwargs):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = getattr(torch.optim.lr_scheduler, torch_name)(opt, **torch_kwargs)
    expected = [sched.get_last_lr()[0]]
    for _ in range(30):
        opt.step()
        sched.step()
        expected.append(sched.get_last_lr()[0])
    lrs, _, _ = bptt_lrs(name, kwargs, 30)
    assert lrs == expected


@pytest.mark.parametrize("name,kwargs", [(s[0], s[1]) for s in SCHEDULES], ids=[s[0] for s in SCHEDULES])
def test_schedule_state_dict_round_trip(name, kwargs):
    straight, _, _ = bptt_lrs(name, kwargs, 25)
    _, opt, sched = bptt_lrs(name, kwargs, 12)
    saved = json.loads(json.dumps(sched.state_dict()))
    opt2 = optim.SGD(make_params(), lr=0.1)
    sched2 = getattr(optim, name)(opt2, **kwargs)
    sched2.load_state_dict(saved)
    assert opt2.lr == straight[12]
    resumed = []
    for _ in range(13):
        sched2.step()
        resumed.append(opt2.lr)
    assert resumed == straight[13:]

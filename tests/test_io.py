"""bptt.io: safetensors + JSON round trips, PyTorch interop both ways, refusals, atomic writes."""
import json

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

from bptt import Recurrent, RecurrentConfig, io
from torch_reference import torch_twin

TOL = {"float32": 1e-6, "float64": 1e-12}
MODES = ["lstm", "gru", "rnn_relu"]
DTYPE_NAMES = ["float32", "float64"]


def _model(mode, dtype, seed=0, input_size=5, hidden_size=4):
    """2 layers, bidirectional, random non-zero weights and biases."""
    config = RecurrentConfig(mode, input_size, hidden_size, num_layers=2, bidirectional=True,
                             dtype=dtype)
    model = Recurrent(config, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 100)
    for value in model.params.values():
        value[...] = rng.uniform(-0.5, 0.5, size=value.shape)
    return model


def _input(dtype, T=6, B=3, E=5, seed=1):
    return np.random.default_rng(seed).standard_normal((T, B, E)).astype(dtype)


def _torch_output(module, x):
    with torch.no_grad():
        out, _ = module(torch.from_numpy(x))
    return out.numpy()


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_round_trip_gives_identical_params_and_outputs(tmp_path, mode, dtype):
    model = _model(mode, dtype)
    io.save(model, tmp_path / "run")
    loaded = io.load(tmp_path / "run")
    assert type(loaded) is Recurrent and loaded.config == model.config
    assert loaded.params.keys() == model.params.keys()
    for name, value in model.params.items():
        assert loaded.params[name].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(loaded.params[name], value, err_msg=name)
    x = _input(dtype)
    out, final = model(x)
    out_l, final_l = loaded(x)
    np.testing.assert_array_equal(out_l, out)
    np.testing.assert_array_equal(np.stack(final_l.arrays()), np.stack(final.arrays()))


def test_config_json_and_metadata_describe_the_model(tmp_path):
    model = _model("gru", "float64")
    io.save(model, tmp_path)
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc == {"format": "bptt", "version": 1, "type": "Recurrent",
                   "config": model.config.to_dict()}
    tensors, metadata = io.load_params(tmp_path / "model.safetensors")
    assert json.loads(metadata["config"]) == doc
    assert set(tensors) == set(model.param_shapes())


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_saved_weights_load_into_torch(tmp_path, mode, dtype):
    model = _model(mode, dtype)
    io.save(model, tmp_path)
    module = torch_twin(_model(mode, dtype, seed=7))        # same shape, other weights
    module.load_state_dict(safetensors.torch.load_file(tmp_path / "model.safetensors"))
    x = _input(dtype)
    np.testing.assert_allclose(_torch_output(module, x), model(x)[0], rtol=0, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("mode", MODES)
def test_torch_weights_load_into_bptt(tmp_path, mode, dtype):
    module = torch_twin(_model(mode, dtype, seed=3))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-0.5, 0.5, generator=generator)
    path = tmp_path / "torch.safetensors"
    safetensors.torch.save_file(module.state_dict(), path)
    model = _model(mode, dtype, seed=11)
    arrays = [model.params[name] for name in sorted(model.params)]
    tensors, _ = io.load_params(path)
    io.load_state_dict(model, tensors, source=str(path))
    # the existing arrays were written into, not replaced (optimizers hold references to them)
    assert all(model.params[name] is a for name, a in zip(sorted(model.params), arrays))
    x = _input(dtype)
    np.testing.assert_allclose(model(x)[0], _torch_output(module, x), rtol=0, atol=TOL[dtype])


def test_load_state_dict_casts_to_the_model_dtype():
    model = _model("lstm", "float32")
    tensors = {k: np.full(v.shape, 0.25, dtype=np.float64) for k, v in model.params.items()}
    io.load_state_dict(model, tensors, source="test")
    for value in model.params.values():
        assert value.dtype == np.float32 and np.all(value == 0.25)


def test_state_dict_is_a_copy():
    model = _model("gru", "float64")
    sd = io.state_dict(model)
    sd["weight_ih_l0"][...] = 0.0
    assert np.all(model.params["weight_ih_l0"] != 0.0)


def test_save_params_writes_strided_arrays_correctly(tmp_path):
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]        # not C-contiguous
    io.save_params(tmp_path / "p.safetensors", {"a": strided.T, "b": strided})
    tensors, metadata = io.load_params(tmp_path / "p.safetensors")
    np.testing.assert_array_equal(tensors["a"], strided.T)
    np.testing.assert_array_equal(tensors["b"], strided)
    assert metadata == {}


# ---- refusals ------------------------------------------------------------------------------
def _save_with_tensors(tmp_path, edit):
    """Save an LSTM, then rewrite its weights file with ``edit(tensors)`` applied."""
    model = _model("lstm", "float32")
    io.save(model, tmp_path)
    path = tmp_path / "model.safetensors"
    tensors = io.state_dict(model)
    edit(tensors)
    safetensors.numpy.save_file(tensors, path)
    return str(path)


def test_missing_tensor_is_refused(tmp_path):
    path = _save_with_tensors(tmp_path, lambda t: t.pop("weight_hh_l1_reverse"))
    with pytest.raises(ValueError) as err:
        io.load(tmp_path)
    msg = str(err.value)
    assert path in msg and "missing tensor 'weight_hh_l1_reverse'" in msg and "(16, 4)" in msg


def test_extra_tensor_is_refused(tmp_path):
    path = _save_with_tensors(tmp_path, lambda t: t.update(extra=np.zeros((2, 3), np.float32)))
    with pytest.raises(ValueError) as err:
        io.load(tmp_path)
    msg = str(err.value)
    assert path in msg and "unexpected tensor 'extra'" in msg and "(2, 3)" in msg


def test_wrongly_shaped_tensor_is_refused(tmp_path):
    path = _save_with_tensors(tmp_path, lambda t: t.update(bias_ih_l0=np.zeros(15, np.float32)))
    with pytest.raises(ValueError) as err:
        io.load(tmp_path)
    msg = str(err.value)
    assert path in msg and "'bias_ih_l0'" in msg and "expected shape (16,)" in msg
    assert "found (15,)" in msg


def test_every_problem_is_listed_and_nothing_is_copied():
    model = _model("gru", "float64")
    before = io.state_dict(model)
    tensors = io.state_dict(model)
    tensors = {k: np.zeros_like(v) for k, v in tensors.items()}
    del tensors["weight_ih_l0"]
    tensors["bias_hh_l1"] = np.zeros(3)
    tensors["stray"] = np.zeros(1)
    with pytest.raises(ValueError) as err:
        io.load_state_dict(model, tensors, source="somewhere.safetensors")
    msg = str(err.value)
    assert msg.startswith("somewhere.safetensors")
    assert "'weight_ih_l0'" in msg and "'bias_hh_l1'" in msg and "'stray'" in msg
    for name, value in before.items():
        np.testing.assert_array_equal(model.params[name], value)


def test_unknown_model_type_is_refused(tmp_path):
    io.save(_model("gru", "float32"), tmp_path)
    doc = json.loads((tmp_path / "config.json").read_text())
    doc["type"] = "Transformer"
    (tmp_path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="unknown model type 'Transformer'") as err:
        io.load(tmp_path)
    assert str(tmp_path / "config.json") in str(err.value)


def test_corrupt_weights_file_is_refused(tmp_path):
    io.save(_model("gru", "float32"), tmp_path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-10])              # truncated
    with pytest.raises(ValueError, match="not a valid safetensors file") as err:
        io.load(tmp_path)
    assert str(path) in str(err.value)
    path.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        io.load_params(path)


def test_corrupt_config_is_refused(tmp_path):
    io.save(_model("gru", "float32"), tmp_path)
    path = tmp_path / "config.json"
    path.write_text('{"format": "bptt", "version": 1, ')
    with pytest.raises(ValueError, match="not valid JSON") as err:
        io.load(tmp_path)
    assert str(path) in str(err.value)


def test_invalid_config_field_is_refused(tmp_path):
    io.save(_model("gru", "float32"), tmp_path)
    path = tmp_path / "config.json"
    doc = json.loads(path.read_text())
    doc["config"]["mode"] = "transformer"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="invalid config for Recurrent") as err:
        io.load(tmp_path)
    assert str(path) in str(err.value)


# ---- atomicity -----------------------------------------------------------------------------
def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    good = _model("lstm", "float64", seed=0)
    io.save(good, tmp_path)
    files_before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", broken_save_file)
    with pytest.raises(OSError, match="disk full"):
        io.save(_model("lstm", "float64", seed=5), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files_before  # no temp left
    monkeypatch.undo()
    loaded = io.load(tmp_path)
    for name, value in good.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)


def test_failed_config_write_leaves_no_temp_file(tmp_path, monkeypatch):
    io.save(_model("gru", "float32"), tmp_path)
    config_before = (tmp_path / "config.json").read_bytes()

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="rename failed"):
        io.save_params(tmp_path / "model.safetensors", {"a": np.ones(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    assert (tmp_path / "config.json").read_bytes() == config_before


def test_save_creates_the_directory(tmp_path):
    target = tmp_path / "a" / "b"
    io.save(_model("rnn_relu", "float32"), target)
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.safetensors"]


# ---- registry ------------------------------------------------------------------------------
def test_registered_type_name_is_used(tmp_path, monkeypatch):
    class Tagged(Recurrent):
        type_name = "TaggedRecurrent"

    monkeypatch.setitem(io.MODEL_TYPES, "TaggedRecurrent", Tagged)
    model = Tagged(RecurrentConfig("gru", 3, 2), rng=np.random.default_rng(0))
    io.save(model, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["type"] == "TaggedRecurrent"
    assert type(io.load(tmp_path)) is Tagged


def test_register_model_type_refuses_a_second_class_under_one_name(monkeypatch):
    from bptt import models
    monkeypatch.setattr(models, "MODEL_TYPES", dict(models.MODEL_TYPES))
    with pytest.raises(ValueError, match="already registered"):
        models.register_model_type("Recurrent", dict)
    models.register_model_type("Recurrent", Recurrent)         # same class again is fine


def test_the_models_never_import_io():
    """bptt.io imports bptt.models for the registry, so no import of bptt.io may stand anywhere
    under models/ (a deferred one inside a function would hide the same circle)."""
    import ast
    import pathlib

    import bptt.models
    for path in pathlib.Path(bptt.models.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = {module} | {f"{module}.{a.name}".lstrip(".") for a in node.names}
                assert not {"io", "bptt.io"} & names, f"{path.name}:{node.lineno} imports bptt.io"
            elif isinstance(node, ast.Import):
                assert "bptt.io" not in {a.name for a in node.names}, f"{path.name}:{node.lineno}"


def test_zero_dimensional_arrays_keep_their_shape(tmp_path):
    from bptt.io import load_params, save_params
    save_params(tmp_path / "s.safetensors", {"step": np.array(7, dtype=np.int64), "v": np.arange(3.0)[::2]})
    tensors, _ = load_params(tmp_path / "s.safetensors")
    assert tensors["step"].shape == () and int(tensors["step"]) == 7
    np.testing.assert_array_equal(tensors["v"], [0.0, 2.0])

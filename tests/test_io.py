"""bptt.io: safetensors + JSON round trips, PyTorch interop both ways, refusals, atomic writes."""
import json
import os
from pathlib import Path

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


def test_load_state_dict_widens_float16_to_the_model_dtype():
    model = _model("lstm", "float32")
    tensors = {k: np.full(v.shape, 0.25, dtype=np.float16) for k, v in model.params.items()}
    io.load_state_dict(model, tensors, source="test")
    for value in model.params.values():
        assert value.dtype == np.float32 and np.all(value == 0.25)


@pytest.mark.parametrize("dtype, message", [
    (np.float64, r"16 tensors \('weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', \.\.\.\): dtype float64, "
                 r"but the model is float32: converting would round"),
    (np.int32, r"dtype int32, but weights must be floating point \(float32\); integer and bool"),
    (np.bool_, r"dtype bool, but weights must be floating point"),
])
def test_load_state_dict_never_rounds_or_converts_integers(dtype, message):
    model = _model("lstm", "float32")
    before = io.state_dict(model)
    tensors = {k: np.ones(v.shape, dtype=dtype) for k, v in model.params.items()}
    with pytest.raises(ValueError, match=message):
        io.load_state_dict(model, tensors, source="test")
    for name, value in before.items():
        np.testing.assert_array_equal(model.params[name], value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_on_load_and_on_save(tmp_path, bad):
    model = _model("gru", "float32")
    tensors = io.state_dict(model)
    tensors["weight_hh_l1"][2, 3] = bad
    with pytest.raises(ValueError, match=r"tensor 'weight_hh_l1': holds NaN or infinite values"):
        io.load_state_dict(model, tensors, source="test")
    model.params["bias_ih_l0"][0] = bad
    with pytest.raises(ValueError, match=r"refusing to save the Recurrent model:\n  tensor 'bias_ih_l0': "
                                         r"holds NaN or infinite values"):
        io.save(model, tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"w\.safetensors: refusing to write NaN or infinite values, in "
                                         r"tensors 'b' \(1 of 3 values\)"):
        io.save_params(tmp_path / "w.safetensors", {"a": np.ones(2), "b": np.array([1.0, bad, 2.0])})
    assert list(tmp_path.iterdir()) == []


def test_weights_that_overflow_float16_are_not_saved(tmp_path):
    model = _model("gru", "float32")
    model.params["weight_ih_l0"][0, 0] = 1e5                   # float16 ends at 65504
    with pytest.raises(ValueError, match=r"NaN or infinite values, in tensors 'weight_ih_l0'"):
        io.save(model, tmp_path, weights_dtype="float16")


def test_bfloat16_weights_are_refused_naming_the_tensor(tmp_path):
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file({"a": torch.ones(3), "b": torch.ones(2, dtype=torch.bfloat16)}, path)
    with pytest.raises(ValueError, match=r"w\.safetensors: tensors of a type NumPy cannot hold: 'b' is BF16; "
                                         r"convert them to float32"):
        io.load_params(path)


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


def _edit_config(directory, **fields):
    """Set ``fields`` in the "config" of ``directory/config.json``; returns its path."""
    path = directory / "config.json"
    doc = json.loads(path.read_text())
    doc["config"].update(fields)
    path.write_text(json.dumps(doc))
    return path


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
    _save_with_tensors(tmp_path, lambda t: None)             # weights without a saved config
    path = _edit_config(tmp_path, mode="transformer")
    with pytest.raises(ValueError, match="invalid config for Recurrent") as err:
        io.load(tmp_path)
    assert str(path) in str(err.value)


def test_config_not_matching_the_saved_weights_is_refused_before_building(tmp_path, monkeypatch):
    io.save(_model("gru", "float32"), tmp_path)
    _edit_config(tmp_path, hidden_size=100_000)
    monkeypatch.setattr(Recurrent, "from_config", None)      # building would fail loudly
    with pytest.raises(ValueError, match=r"config\.json: does not match model\.safetensors, which was "
                                         r"saved with another config: 'hidden_size' is 100000 but the "
                                         r"weights were saved with 4"):
        io.load(tmp_path)


def test_config_sizes_are_checked_against_foreign_weights_before_building(tmp_path, monkeypatch):
    _save_with_tensors(tmp_path, lambda t: None)             # weights without a saved config
    _edit_config(tmp_path, hidden_size=100_000)
    monkeypatch.setattr(Recurrent, "from_config", None)      # building would fail loudly
    with pytest.raises(ValueError, match=r"config\.json: 'hidden_size' is 100000, larger than every "
                                         r"dimension of the tensors in model\.safetensors \(the largest is 16\)"):
        io.load(tmp_path)


def test_a_hidden_size_needs_its_square_matrix_among_foreign_weights(tmp_path, monkeypatch):
    from bptt.models import Classifier, ClassifierConfig
    model = Classifier(ClassifierConfig(1000, 3, 4), np.random.default_rng(0))
    io.save(model, tmp_path)
    safetensors.numpy.save_file(io.state_dict(model), tmp_path / "model.safetensors")   # no config
    _edit_config(tmp_path, hidden_size=900)                  # below the vocabulary's 1000 rows
    monkeypatch.setattr(Classifier, "from_config", None)
    with pytest.raises(ValueError, match=r"'hidden_size' is 900, but model\.safetensors holds 3,154 "
                                         r"numbers, fewer than one 900 x 900 matrix"):
        io.load(tmp_path)


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


# ---- integrity -----------------------------------------------------------------------------
def _tensor_spans(path) -> dict[str, tuple[int, int]]:
    """{tensor name: (first byte, end byte)} of its data in a safetensors file."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    return {k: (8 + n + v["data_offsets"][0], 8 + n + v["data_offsets"][1])
            for k, v in header.items() if k != "__metadata__"}


def test_a_flipped_byte_in_any_tensor_is_refused_naming_it(tmp_path):
    io.save(_model("lstm", "float32"), tmp_path)
    path = tmp_path / "model.safetensors"
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    for name, (start, end) in _tensor_spans(path).items():
        damaged = bytearray(good)
        damaged[int(rng.integers(start, end))] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(damaged))
        with pytest.raises(ValueError, match=rf"model\.safetensors: damaged file: tensor '{name}' does "
                                             rf"not match its checksum; restore it from a copy"):
            io.load(tmp_path)
    path.write_bytes(good)
    io.load(tmp_path)


def test_damaged_metadata_and_checksums_are_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    io.save_params(path, {"a": np.arange(3.0)}, metadata={"note": "hello"})
    tensors, meta = io.load_params(path)
    assert meta == {"note": "hello"} and "sha256" not in meta
    good = path.read_bytes()
    path.write_bytes(good.replace(b"hello", b"hellp"))
    with pytest.raises(ValueError, match=r"damaged file: metadata value 'note' does not match its checksum"):
        io.load_params(path)
    assert good.count(b"tensors") == 1
    path.write_bytes(good.replace(b"tensors", b"tensorz"))       # the checksums' JSON lacks a key
    with pytest.raises(ValueError, match=r"the checksums in the file's metadata are damaged"):
        io.load_params(path)
    path.write_bytes(good.replace(b'"sha256"', b'"sha257"'))   # the key itself
    with pytest.raises(ValueError, match=r"damaged file: the checksums are under the metadata key 'sha257' "
                                         r"instead of 'sha256'"):
        io.load_params(path)
    with pytest.raises(ValueError, match=r"the metadata key 'sha256' is reserved"):
        io.save_params(path, {"a": np.ones(1)}, metadata={"sha256": "x"})


def test_a_renamed_tensor_has_no_checksum(tmp_path):
    path = tmp_path / "w.safetensors"
    io.save_params(path, {"abc": np.arange(3.0), "xyz": np.ones(2)})
    path.write_bytes(path.read_bytes().replace(b'"xyz":{', b'"xyw":{', 1))
    with pytest.raises(ValueError, match=r"damaged file: tensor 'xyw' has no checksum; tensor 'xyz' is "
                                         r"missing \(its checksum is there\)"):
        io.load_params(path)


def test_files_without_checksums_load_unchecked(tmp_path):
    model = _model("gru", "float64")
    safetensors.numpy.save_file(io.state_dict(model), tmp_path / "w.safetensors")
    tensors, meta = io.load_params(tmp_path / "w.safetensors")
    assert meta == {} and sorted(tensors) == sorted(model.params)


def test_model_files_get_the_permissions_of_other_new_files(tmp_path):
    io.save(_model("gru", "float32"), tmp_path)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes["model.safetensors"] == modes["config.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert modes["config.json"] == 0o666 & ~umask


def test_every_shipped_model_carries_checksums():
    """A model in the package is checked byte for byte on load (io.save_params wrote it)."""
    shipped = sorted((Path(io.__file__).parent / "pretrained").glob("*/model.safetensors"))
    assert shipped
    for path in shipped:
        with safetensors.safe_open(path, "numpy") as f:
            meta = f.metadata() or {}
        assert "sha256" in meta, f"{path} has no checksums: save it with bptt.io.save_params"
        assert sorted(json.loads(meta[io.COMPANIONS])) == sorted(
            p.name for p in path.parent.glob("*.json") if p.name not in ("config.json", "card.json")), \
            f"{path}: the files beside it are not all checksummed: save the model again (jobs._common.save_job)"
        io.load(path.parent)

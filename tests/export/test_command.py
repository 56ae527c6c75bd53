"""``bptt export MODEL OUT``: the format from OUT's suffix or --format, the files it writes, and
one-line errors for a bad suffix, a bad MODEL and a missing optional extra (Python and CLI)."""
import re
import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest

from bptt import export
from bptt.cli import main


def test_onnx_from_the_suffix_writes_the_model_and_its_tokenizer_file(tmp_path, capsys):
    assert main(["export", "sst2", str(tmp_path / "s.onnx")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "s.onnx"), str(tmp_path / "s.onnx.tokenizer.json")]
    proto = onnx.load(str(tmp_path / "s.onnx"))
    assert {p.key: p.value for p in proto.metadata_props}["classes"] == '["negative", "positive"]'
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []     # no temporary file left


def test_format_names_the_format_whatever_the_suffix(tmp_path, capsys):
    assert main(["export", "sst2", str(tmp_path / "s.bin"), "--format", "torchscript"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "s.bin")]
    import torch
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", message=".*is deprecated")        # torch 2.13: jit.load works
        logits, probs = torch.jit.load(str(tmp_path / "s.bin"))(torch.tensor([[2, 3, 0]]), torch.tensor([2]))
    assert probs.shape == (1, 2) and abs(float(probs.sum()) - 1) < 1e-6


@pytest.mark.parametrize("argv, message", [
    (["sst2", "OUT/s.txt"], "cannot tell the format from the suffix '.txt': name the file *.onnx, *.pt"),
    (["nope", "OUT/s.onnx"], "MODEL 'nope' is neither a shipped model (sst2, imdb) nor a model directory"),
    (["sst2", "OUT/no/s.onnx"], "OUT/no/s.onnx: no folder OUT/no to write into (create it first)"),
])
def test_bad_arguments_are_one_line(argv, message, tmp_path, capsys):
    argv = [a.replace("OUT", str(tmp_path)) for a in argv]
    message = message.replace("OUT", str(tmp_path))
    assert main(["export", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bptt export: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module, suffix, extra", [("onnx", ".onnx", "the optional extra 'export' "
                                                    "(pip install 'bptt[export]')"),
                                                   ("torch", ".pt", "PyTorch (pip install torch)")])
def test_a_missing_package_is_one_line_naming_what_to_install(module, suffix, extra, tmp_path, capsys,
                                                              monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)              # import fails as if not installed
    with pytest.raises(export.MissingExtra, match=re.escape(f"needs {extra}: ")):
        export.export("sst2", tmp_path / f"m{suffix}")
    assert main(["export", "sst2", str(tmp_path / f"m{suffix}")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bptt export: ") and extra in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_the_package_imports_nothing_heavy_until_used():
    code = ("import sys, bptt.export, bptt.cli; bptt.cli.build_parser(); "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'torch', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_keras_conversions_need_numpy_only():
    from bptt import GRU
    weights = export.to_keras_weights(GRU(3, 2, rng=np.random.default_rng(0)))
    assert [w.shape for w in weights] == [(3, 6), (2, 6), (2, 6)]

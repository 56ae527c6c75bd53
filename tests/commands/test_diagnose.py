"""``bptt diagnose``: gradient norms through time for fresh models (with plots), and for a saved one."""
import json

import numpy as np
import pytest

from bptt import io
from helpers import random_regressor, run_cli


def test_diagnose_command_prints_norms_and_writes_plots(tmp_path, capsys):
    import matplotlib  # noqa: F401  (the plot extra is in the test extra)
    rc = run_cli(["diagnose", "--cell", "lstm", "--T", "12", "--hidden", "6", "--batch", "4",
                    "--train-steps", "6", "--record-every", "2", "--out", str(tmp_path)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "=== lstm ===" in text
    assert "weight_hh_l0[f]" in text and "rate/step" in text
    doc = json.loads((tmp_path / "diagnosis.json").read_text())
    for cell in ("lstm",):
        curve = doc["models"][cell]["curves"]["l0"]["jacobian"]
        assert len(curve) == 12 and curve[0] == pytest.approx(1.0)          # ds_T/ds_T = I
        assert len([l for l in open(tmp_path / f"{cell}_metrics.jsonl") if '"gradients"' in l]) == 3
    for name in ("grad_vs_distance", "jacobian_vs_distance", "heatmap_lstm", "losses"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_diagnose_command_loads_a_saved_model(tmp_path, capsys):
    model = random_regressor("gru", np.random.default_rng(7))
    io.save(model, tmp_path / "m")
    assert run_cli(["diagnose", "--model", str(tmp_path / "m"), "--T", "9", "--batch", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["m"]["mode"] == "gru" and len(out["m"]["curves"]["l0"]["dh"]) == 9
    assert out["m"]["spectrum"]["weight_hh_l0"]["z"]["sigma_max"] == pytest.approx(
        np.linalg.norm(model.params["rnn.weight_hh_l0"][4:8], 2))


def test_diagnose_without_the_plot_extra_says_so_first_and_still_writes_its_json(tmp_path, monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)           # import matplotlib: ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    from bptt.cli import main
    assert main(["diagnose", "--cell", "gru", "--T", "6", "--hidden", "3", "--batch", "2", "--train-steps", "2",
                 "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("bptt diagnose: no plots: plotting needs matplotlib, the optional extra 'plot'")
    assert err[1].startswith("gru: trained 2 steps") and err[-1].startswith(f"wrote {tmp_path / 'diagnosis.json'}")
    assert json.loads((tmp_path / "diagnosis.json").read_text())["T"] == 6
    assert not list(tmp_path.glob("*.png"))

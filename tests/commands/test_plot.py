"""bptt plot and bptt explain --png: files written, one-line errors for bad metrics files and a
missing matplotlib."""
import json
import sys

from bptt.cli import main


def _run(path, accuracies):
    path.mkdir(parents=True)
    lines = [json.dumps({"epoch": i + 1, "step": 10 * (i + 1), "train_loss": 1 - a, "dev_accuracy": a,
                         "elapsed_s": 3.0 * (i + 1)}) for i, a in enumerate(accuracies)]
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return str(path)


def test_plot_overlays_runs_into_out(tmp_path, capsys):
    a, b = _run(tmp_path / "a", [0.6, 0.7]), _run(tmp_path / "b", [0.5, 0.8])
    assert main(["plot", a, b, "--out", str(tmp_path / "pics")]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / "pics" / "loss.png"), str(tmp_path / "pics" / "accuracy.png")]


def test_plot_of_one_run_writes_beside_its_metrics(tmp_path, capsys):
    assert main(["plot", _run(tmp_path / "a", [0.6])]) == 0
    assert (tmp_path / "a" / "accuracy.png").is_file()


def test_a_malformed_metrics_file_is_one_line_naming_file_and_line(tmp_path, capsys):
    run = _run(tmp_path / "a", [0.6, 0.7])
    with open(tmp_path / "a" / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "step": 30,\n')
    assert main(["plot", run]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"bptt plot: {tmp_path / 'a' / 'metrics.jsonl'}:3: not valid JSON")
    assert err.count("\n") == 1


def test_a_missing_run_folder_is_named(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope")]) == 1
    assert str(tmp_path / "nope" / "metrics.jsonl") in capsys.readouterr().err


def test_without_matplotlib_plot_and_explain_say_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)         # import fails
    assert main(["plot", _run(tmp_path / "a", [0.6])]) == 1
    assert main(["explain", "--png", str(tmp_path / "e.png"), "not good"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all("pip install 'bptt[plot]'" in line for line in lines)
    assert not (tmp_path / "e.png").exists()


def test_explain_png_draws_the_shipped_model(tmp_path, capsys):
    assert main(["explain", "--png", str(tmp_path / "e.png"), "this movie is not good"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "e.png")
    assert (tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"

"""plots: metrics.jsonl read line by line with errors naming file, line and field; the curves drawn
are the recorded values, against steps and wall-clock time; explanations drawn per word."""
import json

import numpy as np
import pytest

from bptt.explanation import Explanation
from bptt.plots import plot_explanation, plot_runs, quantities, read_metrics, runs_figure

SENTIMENT = [
    {"epoch": 1, "step": 10, "train_loss": 0.7, "dev_accuracy": 0.6, "best": True, "elapsed_s": 2.0},
    {"event": "skipped_step", "epoch": 2, "step": 12, "loss": "nan", "grad_norm": "inf", "elapsed_s": 2.5},
    {"epoch": 2, "step": 20, "train_loss": 0.5, "dev_accuracy": 0.8, "best": True, "elapsed_s": 4.0},
]
LM = [
    {"event": "gradients", "step": 5, "curves": {}},
    {"epoch": 1, "step": 100, "train_loss": 1.6, "dev_loss": 1.5, "dev_neg_loss": -1.5, "dev_bpc": 2.16,
     "elapsed_s": 400.0},
    {"event": "final", "epoch": 1, "step": 130, "dev_loss": 1.4, "dev_neg_loss": -1.4, "dev_bpc": 2.02,
     "best": True, "elapsed_s": 600.0},
]


def _write(path, records, extra_lines=()):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "".join(extra_lines), encoding="utf-8")
    return path


def test_read_metrics_keeps_evaluations_and_passes_over_other_events(tmp_path):
    records = read_metrics(_write(tmp_path / "lm" / "metrics.jsonl", LM, ["\n"]))
    assert [r["step"] for r in records] == [100, 130]
    assert [r["step"] for r in read_metrics(_write(tmp_path / "s.jsonl", SENTIMENT))] == [10, 20]


@pytest.mark.parametrize("line, message", [
    ('{"epoch": 3, "step": 30, "train_loss": 0.4\n', r"s\.jsonl:4: not valid JSON"),
    ('[1, 2]\n', r"s\.jsonl:4: expected a JSON object, got list"),
    ('{"epoch": 3, "step": "30", "train_loss": 0.4}\n',
     r"s\.jsonl:4: field 'step' should be a number, got '30'"),
    ('{"epoch": 3, "step": 30, "dev_accuracy": "high"}\n',
     r"s\.jsonl:4: field 'dev_accuracy' should be a number"),
])
def test_malformed_lines_name_file_line_and_field(tmp_path, line, message):
    with pytest.raises(ValueError, match=message):
        read_metrics(_write(tmp_path / "s.jsonl", SENTIMENT, [line]))


def test_a_file_without_evaluations_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"g\.jsonl: no evaluation records"):
        read_metrics(_write(tmp_path / "g.jsonl", LM[:1]))


def test_quantities_group_losses_and_drop_bookkeeping():
    runs = {"sst": read_like(SENTIMENT), "lm": read_like(LM)}
    assert quantities(runs) == {"loss": ["train_loss", "dev_loss"], "accuracy": ["dev_accuracy"],
                                "bpc": ["dev_bpc"]}


def read_like(records):
    return [r for r in records if r.get("event", "final") == "final" and "step" in r]


def test_runs_figure_draws_the_recorded_values_against_steps_and_time():
    runs = {"a": read_like(SENTIMENT), "b": [{**r, "dev_accuracy": r["dev_accuracy"] - 0.1,
                                              "elapsed_s": r["elapsed_s"] * 2} for r in read_like(SENTIMENT)]}
    fig = runs_figure(runs, "accuracy", ["dev_accuracy"])
    by_steps, by_time = fig.axes
    assert [line.get_label() for line in by_steps.lines] == ["a", "b"]
    np.testing.assert_allclose(by_steps.lines[0].get_xydata(), [[10, 0.6], [20, 0.8]])
    np.testing.assert_allclose(by_time.lines[1].get_xydata(), [[4.0, 0.5], [8.0, 0.7]])
    assert by_time.get_xlabel() == "wall-clock seconds (elapsed_s)"


def test_long_runs_are_drawn_in_minutes_and_train_and_dev_loss_share_a_picture():
    fig = runs_figure({"lm": read_like(LM)}, "loss", ["train_loss", "dev_loss"])
    by_steps, by_time = fig.axes
    assert [line.get_label() for line in by_steps.lines] == ["lm train_loss", "lm dev_loss"]
    assert [line.get_linestyle() for line in by_steps.lines] == ["-", "--"]
    np.testing.assert_allclose(by_time.lines[1].get_xydata(), [[400 / 60, 1.5], [10.0, 1.4]])
    assert by_time.get_xlabel() == "wall-clock minutes (elapsed_s)"


def test_runs_without_elapsed_seconds_get_the_steps_panel_only():
    old = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in read_like(SENTIMENT)]
    assert len(runs_figure({"old": old}, "accuracy", ["dev_accuracy"]).axes) == 1


def test_plot_runs_writes_one_png_per_quantity(tmp_path):
    written = plot_runs({"sst": read_like(SENTIMENT), "lm": read_like(LM)}, tmp_path / "out")
    assert [p.name for p in written] == ["loss.png", "accuracy.png", "bpc.png"]
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert sorted(q.name for q in (tmp_path / "out").iterdir()) == ["accuracy.png", "bpc.png", "loss.png"]


def test_explanation_moves_start_from_even_odds_and_are_drawn(tmp_path):
    probs = np.array([[0.3, 0.7], [0.9, 0.1], [0.2, 0.8]])
    e = Explanation("good not great", ("negative", "positive"), "positive", ("good", "not", "great"), probs,
                    "positive")
    np.testing.assert_allclose(e.moves, [0.2, -0.6, 0.7])
    assert e.to_dict()["words"][1] == {"token": "not", "probabilities": {"negative": 0.9, "positive": 0.1},
                                       "move": -0.6}
    path = plot_explanation(e, tmp_path / "e.png")
    assert path.read_bytes()[:4] == b"\x89PNG"

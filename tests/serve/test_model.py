"""The model card: architecture and recipe from the model's files, training figures from the run's
metrics.jsonl, published figures from card.json (unknown fields refused, naming the file)."""
import json

import pytest

from bptt.jobs.sentiment import SentimentClassifier
from bptt.serve.model import load_model, model_card
from helpers import negation_data


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    texts, labels = negation_data(300, 0)
    dev_texts, dev_labels = negation_data(60, 1)
    SentimentClassifier(cell="gru", embedding_dim=8, hidden_size=8, bidirectional=False, pooling="last",
                        epochs=2, batch_size=32, lr=0.01, patience=None).fit(
        texts, labels, dev_texts, dev_labels, out_dir=root, progress=False)
    return root


def test_card_of_a_run_s_best_model_carries_its_training_figures(run):
    clf, directory = load_model(str(run / "best"))
    card = model_card(clf, directory)
    records = [json.loads(line) for line in open(run / "metrics.jsonl")]
    best = [r for r in records if r["best"]][-1]
    assert card["name"] == "best" and card["classes"] == ["negative", "positive"]
    assert card["model"] == {"type": "Classifier", "cell": "gru", "embedding_dim": 8, "hidden_size": 8,
                             "num_layers": 1, "bidirectional": False, "pooling": "last",
                             "vocab_size": len(clf.vocab_),
                             "parameters": sum(p.size for p in clf.model_.params.values())}
    assert card["recipe"]["lr"] == 0.01 and card["recipe"]["epochs"] == 2
    assert card["training"] == {"epochs": 2, "best_epoch": best["epoch"], "best_step": best["step"],
                                "best": {"dev_accuracy": best["dev_accuracy"]},
                                "elapsed_s": records[-1]["elapsed_s"]}
    assert "figures" not in card


def test_card_names_the_stop_evaluation_that_chose_best_when_it_beat_every_epoch(run, tmp_path):
    """A run stopped inside epoch 3 whose last weights beat epochs 1 and 2: they are best/, and
    the card gives their figures, not epoch 2's."""
    import shutil
    shutil.copytree(run, tmp_path / "run")
    stop = {"event": "stop evaluation", "epoch": 3, "step": 25, "dev_accuracy": 0.987, "best": True,
            "batches": 25, "elapsed_s": 9.5}
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"event": "stopped", "reason": "time budget", "epoch": 3, "step": 25}) + "\n")
        f.write(json.dumps(stop) + "\n")
    clf, directory = load_model(str(tmp_path / "run" / "best"))
    training = model_card(clf, directory)["training"]
    assert training == {"epochs": 2, "best_epoch": 3, "best_step": 25, "best_event": "stop evaluation",
                        "best": {"dev_accuracy": 0.987}, "elapsed_s": 9.5}


def test_card_json_adds_published_figures_and_refuses_unknown_fields(run, tmp_path):
    clf, directory = load_model(str(run / "best"))
    published = {"data": "toy negation", "figures": {"test_accuracy": 0.9}}
    (directory / "card.json").write_text(json.dumps(published))
    try:
        card = model_card(clf, directory)
        assert card["data"] == "toy negation" and card["figures"] == {"test_accuracy": 0.9}
        (directory / "card.json").write_text(json.dumps({"figure": {}}))
        with pytest.raises(ValueError, match=r"card\.json: unknown field 'figure'; a card\.json holds"):
            model_card(clf, directory)
    finally:
        (directory / "card.json").unlink()


def test_the_shipped_model_s_card(tmp_path):
    clf, directory = load_model(None)
    card = model_card(clf, directory)
    assert card["model"]["parameters"] == 1_374_758 and card["figures"]["dev_accuracy"] == 0.8555
    assert "training" not in card                      # the package ships no metrics.jsonl

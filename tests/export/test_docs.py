"""docs/export.md's Python client (ONNX Runtime + the tokenizer file, no bptt import) runs as
written in a folder holding ``bptt export sst2 sst2.onnx``'s files and gives bptt's
probabilities."""
import re
from pathlib import Path

import numpy as np

from bptt.cli import main
from bptt.jobs.sentiment import SentimentClassifier

DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"


def test_the_onnx_runtime_client_of_docs_export_md_gives_bptts_probabilities(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    client = next(b for b in blocks if "InferenceSession" in b)
    assert "bptt" not in client.replace("sst2.onnx", "")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "sst2", "sst2.onnx"]) == 0
    scope = {}
    exec(compile(client, str(DOC), "exec"), scope)                          # noqa: S102 - our own doc
    texts = ["this movie is not good", "a gem"]
    ours = SentimentClassifier.pretrained("sst2").predict_proba(texts)
    np.testing.assert_allclose(scope["probabilities"], ours, rtol=0, atol=1e-5)
    assert ours[0].argmax() == 0 and ours[1].argmax() == 1
    assert capsys.readouterr().out.endswith(str(scope["probabilities"].round(3)) + "\n")

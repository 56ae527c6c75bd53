"""docs/cells.md's worked example (a peephole LSTM registered from its two step functions) runs
as written, its finite-difference checks included."""
import re
from pathlib import Path

import numpy as np

from bptt.cells import get_cell, unregister_cell

DOC = Path(__file__).resolve().parents[2] / "docs" / "cells.md"


def test_the_peephole_lstm_of_docs_cells_md_runs_and_passes_its_gradient_checks():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 3
    namespace = {}
    try:
        for k, block in enumerate(blocks):
            exec(compile(block, f"{DOC.name} block {k + 1}", "exec"), namespace)
        assert get_cell("peephole_lstm").extra == {"weight_ch": ("i", "f", "o")}
        assert "weight_ch_l1_reverse" in namespace["layer"].params
        assert len(namespace["clf"].predict(["good fun"])) == 1
        assert np.all(np.isfinite(namespace["report"].curves()["l0"]["dh"][:5]))
    finally:
        unregister_cell("peephole_lstm")

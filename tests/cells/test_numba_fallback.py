"""Without numba (a dependency, but one that can be missing or broken) bptt says so in one line,
once, and runs the fast NumPy path with the same numbers. A child interpreter with numba hidden
by an import hook stands in for an environment without it (CI also runs the whole suite after
``pip uninstall -y numba llvmlite``)."""
import json
import os
import subprocess
import sys

CHILD = r'''
import json, sys
class HideNumba:                        # what an environment without numba looks like
    def find_spec(self, name, path=None, target=None):
        if name == "numba" or name.startswith(("numba.", "llvmlite")):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, HideNumba())
import numpy as np
import bptt
layer = bptt.LSTM(3, 4, num_layers=2, dtype="float64", rng=np.random.default_rng(0))
x = np.random.default_rng(1).standard_normal((5, 2, 3))
outs = [layer(x)[0].sum() for _ in range(3)]            # three runs: one line, said once
with bptt.use_backend("reference"):
    ref = layer(x)[0].sum()
print(json.dumps({"backend": bptt.get_backend(), "outs": outs, "ref": float(ref),
                  "numba": "numba" in sys.modules}))
'''


def test_without_numba_the_numpy_path_runs_and_says_so_in_one_line_once():
    env = {k: v for k, v in os.environ.items() if k != "BPTT_BACKEND"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    result = json.loads(done.stdout)
    assert result["backend"] == "numpy" and not result["numba"]
    assert all(abs(o - result["ref"]) < 1e-12 * abs(result["ref"]) for o in result["outs"])
    said = [line for line in done.stderr.splitlines() if "numba" in line]
    assert len(said) == 1, done.stderr
    assert "numba is not installed, so the fast NumPy path runs" in said[0]
    assert "pip install numba" in said[0] and "BPTT_BACKEND=numpy" in said[0]

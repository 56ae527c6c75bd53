"""The many-to-one Regressor: finite differences in float64, a PyTorch twin, save/load."""

import numpy as np
import pytest
import torch

from bptt import io
from bptt.gradcheck import check_grads
from bptt.losses import mse
from bptt.models.regressor import Regressor, RegressorBatch
from helpers import random_regressor

# ---- the Regressor -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,layers,bidirectional", [("lstm", 2, True), ("gru", 1, False),
                                                       ("rnn_tanh", 2, False), ("rnn_relu", 1, True)])
def test_regressor_gradients_match_finite_differences(mode, layers, bidirectional):
    rng = np.random.default_rng(4)
    model = random_regressor(mode, rng, num_layers=layers, bidirectional=bidirectional)
    x, y = rng.standard_normal((5, 3, 3)), rng.standard_normal((3, 2))
    lengths = np.array([5, 2, 4])
    result = model.loss_and_grads(RegressorBatch(x, y, lengths))
    grads = result.grads
    assert (result.examples, result.tokens, result.count) == (3, 11, 3)     # a mean per example
    errors = check_grads(lambda: mse(model.forward(x, lengths)[0], y)[0], model.params, grads,
                         max_elements=24)
    assert max(errors.values()) < 1e-6, errors
    assert set(grads) == set(model.params)
    assert all(np.abs(g).max() > 0 for g in grads.values())
    assert all(n.startswith(("rnn.", "fc.")) for n in model.params)


def test_regressor_matches_a_pytorch_twin():
    rng = np.random.default_rng(5)
    model = random_regressor("lstm", rng, num_layers=2, bidirectional=True)
    x, y = rng.standard_normal((6, 3, 3)), rng.standard_normal((3, 2))

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(3, 4, 2, bidirectional=True)
            self.fc = torch.nn.Linear(8, 2)

        def forward(self, x):
            _, (h, _) = self.rnn(x)
            return self.fc(torch.cat([h[-2], h[-1]], dim=1))

    twin = Twin().double()
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    pred_t = twin(torch.from_numpy(x))
    loss_t = ((pred_t - torch.from_numpy(y)) ** 2).mean()
    loss_t.backward()
    loss, grads, *_ = model.loss_and_grads(RegressorBatch(x, y))
    pred = model.predict(x)
    np.testing.assert_allclose(pred, pred_t.detach().numpy(), rtol=1e-10)
    assert loss == pytest.approx(loss_t.item(), rel=1e-10)
    for name, p in twin.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name)


def test_regressor_save_and_load_round_trip(tmp_path):
    model = random_regressor("gru", np.random.default_rng(6), init="orthogonal")
    io.save(model, tmp_path / "m")
    loaded = io.load_as(tmp_path / "m", Regressor)
    assert loaded.config == model.config
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(ValueError, match="targets must have shape"):
        model.loss_and_grads(RegressorBatch(x, np.zeros((2, 3))))

"""Polyak averaging: an exponential moving average of the weights, kept beside the weights trained.

After every optimizer step t (t = 1, 2, ...), with decay beta in (0, 1):

    avg_0 = theta_0                                     the weights the run starts from
    avg_t = beta * avg_{t-1} + (1 - beta) * theta_t     computed as  avg += (1 - beta) * (theta_t - avg)

so avg_t = beta^t theta_0 + (1 - beta) sum_{k=1..t} beta^(t-k) theta_k: a weighted mean of the
weights along the run's last ~1 / (1 - beta) steps, which moves less from step to step than the
weights themselves (Polyak & Juditsky 1992; PyTorch: ``torch.optim.swa_utils.AveragedModel`` with
``get_ema_multi_avg_fn(beta)``; Keras: an optimizer's ``use_ema=True, ema_momentum=beta``). The
starting weights keep the share beta^t: choose beta with 1 / (1 - beta) well under the run's steps
(0.999 keeps 37% of the start after 1,000 steps, 0.99 keeps 0.004%).

Training reads and updates ``theta`` only; the trainer puts the average in the model's place to
evaluate it and to save the best model (``swapped_in``), then puts the trained weights back, so
the next step continues from theta_t exactly as without averaging.
"""
from __future__ import annotations

import contextlib

import numpy as np


class WeightAverage:
    """avg = the exponential moving average of ``params`` (a dict name -> array, updated in place
    by the optimizer) with ``decay`` beta, starting from their values now."""

    def __init__(self, params: dict[str, np.ndarray], decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the weight average's decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.params = params
        self.average = {name: p.copy() for name, p in params.items()}       # avg_0 = theta_0
        largest = max((p.size for p in params.values()), default=0)
        dtype = np.result_type(*params.values()) if params else np.float64
        self._scratch = np.empty(largest, dtype=dtype)      # one buffer for theta - avg, any shape

    def update(self) -> None:
        """avg_t = avg_{t-1} + (1 - beta) (theta_t - avg_{t-1}), after the step that made theta_t."""
        rate = 1.0 - self.decay
        for name, avg in self.average.items():
            theta = self.params[name]
            diff = self._scratch[:theta.size].reshape(theta.shape)
            np.subtract(theta, avg, out=diff, casting="unsafe")             # theta_t - avg_{t-1}
            diff *= rate
            avg += diff

    @contextlib.contextmanager
    def swapped_in(self):
        """Inside: the model's arrays hold the average (copied in place, so every reference to
        them, the optimizer's included, sees it); after: the trained weights again, bit for bit."""
        trained = {name: p.copy() for name, p in self.params.items()}
        try:
            for name, p in self.params.items():
                np.copyto(p, self.average[name])
            yield
        finally:
            for name, p in self.params.items():
                np.copyto(p, trained[name])

    def state_dict(self) -> dict[str, np.ndarray]:
        return dict(self.average)

    def load_state_dict(self, tensors: dict[str, np.ndarray], where: str) -> None:
        """The average saved by ``state_dict``: one array per parameter, of its shape (errors
        name ``where``, the checkpoint)."""
        if set(tensors) != set(self.average):
            missing = sorted(set(self.average) - set(tensors))
            extra = sorted(set(tensors) - set(self.average))
            raise ValueError(f"{where}: the weight average does not fit this model (missing {missing[:3]}, "
                             f"unexpected {extra[:3]})")
        for name, value in tensors.items():
            if value.shape != self.average[name].shape:
                raise ValueError(f"{where}: the weight average of {name!r} has shape {value.shape}, "
                                 f"the model's is {self.average[name].shape}")
            np.copyto(self.average[name], value)

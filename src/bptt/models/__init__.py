"""Models, one file per topology; each keeps all parameters in one flat ``params`` mapping with
PyTorch state_dict names (``embedding.weight``, ``rnn.weight_ih_l0``, ``fc.weight``, ...)."""
from .classifier import Classifier, ClassifierConfig

__all__ = ["Classifier", "ClassifierConfig"]

"""Models, one file per topology; each keeps all parameters in one flat ``params`` mapping with
PyTorch state_dict names (``embedding.weight``, ``rnn.weight_ih_l0``, ``fc.weight``, ...)."""
from .classifier import Classifier, ClassifierConfig
from .conditional import ConditionalLanguageModel, ConditionalLMConfig
from .language_model import LanguageModel, LanguageModelConfig
from .regressor import Regressor, RegressorConfig

__all__ = ["Classifier", "ClassifierConfig", "LanguageModel", "LanguageModelConfig",
           "ConditionalLanguageModel", "ConditionalLMConfig", "Regressor", "RegressorConfig"]

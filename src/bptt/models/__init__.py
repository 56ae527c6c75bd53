"""Models, one file per topology; each keeps all parameters in one flat ``params`` mapping with
PyTorch state_dict names (``embedding.weight``, ``rnn.weight_ih_l0``, ``fc.weight``, ...)."""
from .classifier import Classifier, ClassifierConfig
from .conditional import ConditionalLanguageModel, ConditionalLMConfig
from .language_model import LanguageModel, LanguageModelConfig
from .regressor import Regressor, RegressorConfig
from .seq2seq import Seq2Seq, Seq2SeqConfig
from .tagger import Tagger, TaggerConfig

__all__ = ["Classifier", "ClassifierConfig", "LanguageModel", "LanguageModelConfig",
           "ConditionalLanguageModel", "ConditionalLMConfig", "Regressor", "RegressorConfig",
           "Seq2Seq", "Seq2SeqConfig", "Tagger", "TaggerConfig"]

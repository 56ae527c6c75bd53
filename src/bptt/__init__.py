"""bptt: recurrent neural networks from the math up, in NumPy, with hand-written BPTT."""
from .backend import get_backend, set_backend, use_backend
from .recurrent import GRU, LSTM, RNN, MinGRU, MinLSTM, Recurrent, RecurrentConfig
from .rng import manual_seed
from .state import State

__all__ = ["RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "Recurrent", "RecurrentConfig", "State",
           "get_backend", "set_backend", "use_backend", "manual_seed"]
__version__ = "0.1.0"

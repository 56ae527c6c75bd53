"""bptt: recurrent neural networks from the math up, in NumPy, with hand-written BPTT."""
from .recurrent import GRU, LSTM, RNN, Recurrent, RecurrentConfig
from .state import State

__all__ = ["RNN", "LSTM", "GRU", "Recurrent", "RecurrentConfig", "State"]
__version__ = "0.1.0"

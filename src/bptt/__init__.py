"""bptt: recurrent neural networks from the math up, in NumPy, with hand-written BPTT."""
from .recurrent import GRU, LSTM, RNN, Recurrent, RecurrentConfig

__all__ = ["RNN", "LSTM", "GRU", "Recurrent", "RecurrentConfig"]
__version__ = "0.1.0"

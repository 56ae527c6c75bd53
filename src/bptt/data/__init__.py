"""Data for the sentiment models: read, tokenize, build a vocabulary, batch; download.

    read_dataset(path)   -> Dataset(texts, labels, classes, source), ReadReport
    tokenize(text)       -> list[str]             PTB/SST-style tokens
    Vocabulary.build(..) -> ids: <pad>=0, <unk>=1, then by frequency
    encode_texts(texts, vocab, max_len)           -> list of (L,) int64
    bucket_batches(seqs, labels, batch_size, seed) / fixed_batches(...) -> list[Batch]
                         Batch(ids (T, B), lengths (B,), labels (B,), index (B,))
    download("sst2" | "imdb")                     -> folder in the cache
"""
from .batching import Batch, bucket_batches, encode_texts, fixed_batches, pad_batch, padding_fraction
from .download import SOURCES, ChecksumError, DownloadError, Source, default_cache_dir, download
from .readers import BINARY_CLASSES, Dataset, ReadReport, read_dataset, read_lines
from .tokenize import tokenize
from .vocab import PAD, PAD_ID, UNK, UNK_ID, Vocabulary

__all__ = [
    "tokenize",
    "Vocabulary", "PAD", "UNK", "PAD_ID", "UNK_ID",
    "Dataset", "ReadReport", "read_dataset", "read_lines", "BINARY_CLASSES",
    "Batch", "encode_texts", "pad_batch", "bucket_batches", "fixed_batches", "padding_fraction",
    "download", "Source", "SOURCES", "default_cache_dir", "DownloadError", "ChecksumError",
]

"""Unigram and bigram add-k language models: the floor an RNN must clear, counted on the
training stream and scored on exactly the held-out tokens the RNN is scored on.

Add-k smoothing: p(w) = (c(w) + k) / (N + kV) and p(w | v) = (c(v, w) + k) / (c(v) + kV),
with V the whole vocabulary (the RNN's softmax is over the same V). k is chosen from a
few values on the validation stream, never the test stream.
"""

import math

import numpy as np


class NgramCounts:
    """Unigram and bigram counts of a training stream of token ids."""

    def __init__(self, train_ids: np.ndarray, vocabulary_size: int):
        ids = np.asarray(train_ids, np.int64)
        self.vocabulary_size = vocabulary_size
        self.unigrams = np.bincount(ids[1:], minlength=vocabulary_size).astype(np.float64)
        # Bigram counts live in a sorted array of codes v * V + w: a word vocabulary's V x V table would not fit.
        self.pair_codes, self.pair_counts = np.unique(ids[:-1] * vocabulary_size + ids[1:], return_counts=True)
        self.contexts = np.bincount(ids[:-1], minlength=vocabulary_size).astype(np.float64)

    def unigram_nats(self, ids: np.ndarray, k: float) -> float:
        """Total negative log-likelihood (nats) of ids[1:] under the add-k unigram model."""
        targets = np.asarray(ids[1:], np.int64)
        probabilities = (self.unigrams[targets] + k) / (self.unigrams.sum() + k * self.vocabulary_size)
        return float(-np.sum(np.log(probabilities)))

    def bigram_nats(self, ids: np.ndarray, k: float) -> float:
        """Total negative log-likelihood (nats) of ids[1:] given ids[:-1] under the add-k bigram model."""
        ids = np.asarray(ids, np.int64)
        codes = ids[:-1] * self.vocabulary_size + ids[1:]
        positions = np.clip(np.searchsorted(self.pair_codes, codes), 0, len(self.pair_codes) - 1)
        pair_counts = np.where(self.pair_codes[positions] == codes, self.pair_counts[positions], 0)
        probabilities = (pair_counts + k) / (self.contexts[ids[:-1]] + k * self.vocabulary_size)
        return float(-np.sum(np.log(probabilities)))


def baseline_scores(train_ids, validation_ids, test_ids, vocabulary_size: int, k_values) -> dict:
    """Test perplexity of the unigram and bigram add-k models, k picked on validation."""
    counts = NgramCounts(train_ids, vocabulary_size)
    scores = {}
    for name, nats in (("unigram", counts.unigram_nats), ("bigram", counts.bigram_nats)):
        best_k = min(k_values, key=lambda k: nats(validation_ids, k))
        mean_nats = nats(test_ids, best_k) / (len(test_ids) - 1)
        scores[name] = {"k": best_k, "perplexity": math.exp(mean_nats), "bits_per_token": mean_nats / math.log(2)}
    return scores

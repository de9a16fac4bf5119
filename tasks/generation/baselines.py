"""N-gram language models: the floor an RNN must clear, counted on the training stream
and scored on exactly the held-out tokens the RNN is scored on (every token after the
first, over the whole vocabulary V the RNN's softmax covers).

- Unigram and bigram add-k: p(w) = (c(w) + k) / (N + kV) and p(w | v) = (c(v, w) + k) /
  (c(v) + kV); k chosen from a few values on the validation stream, never the test stream.
- Interpolated Witten-Bell (Witten & Bell 1991; Chen & Goodman 1998, eq. 17), the fair
  floor: p(w | h) = (c(h w) + T(h) p(w | h')) / (c(h) + T(h)), with h' the history h
  without its oldest token, T(h) the number of distinct tokens seen after h, c(h) the
  count of h followed by anything, and p(w | h) = p(w | h') where h was never seen; the
  recursion ends at the uniform 1/V. Its order is chosen on validation.

No library fits: nltk.lm scores one n-gram at a time in Python (hours on 5M characters)
and KenLM's estimator is a separate binary. This one is numpy: an n-gram is an integer id,
the rank of (its (n-1)-gram prefix's id, its last token) among the training n-grams.
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


class WittenBell:
    """Interpolated Witten-Bell n-gram counts of a training stream, up to `max_order`."""

    def __init__(self, train_ids: np.ndarray, vocabulary_size: int, max_order: int):
        ids = np.asarray(train_ids, np.int64)
        self.vocabulary_size = vocabulary_size
        self.max_order = max_order
        self.keys = []  # per history length k >= 1: sorted unique keys (history id * V + token) of (k+1)-grams
        self.gram_counts = []  # per k: c(h w) of each key
        self.history_counts = []  # per k: c(h) followed by anything, by history id
        self.followers = []  # per k: T(h), distinct tokens after h, by history id
        self.unigrams = np.bincount(ids, minlength=vocabulary_size).astype(np.float64)
        grams = ids  # ids of the k-grams ending at each position (k = 1: the tokens)
        for _ in range(1, max_order):
            codes = grams[:-1] * vocabulary_size + ids[1:][len(ids) - len(grams) :]
            keys, ranks, counts = np.unique(codes, return_inverse=True, return_counts=True)
            histories = len(self.keys[-1]) if self.keys else vocabulary_size  # ids of the (k)-gram histories
            self.keys.append(keys)
            self.gram_counts.append(counts.astype(np.float64))
            self.history_counts.append(np.bincount(keys // vocabulary_size, counts, minlength=histories))
            self.followers.append(np.bincount(keys // vocabulary_size, minlength=histories).astype(np.float64))
            grams = ranks.astype(np.int64)

    def log_probabilities(self, ids: np.ndarray) -> list[np.ndarray]:
        """ln p(ids[i] | the tokens before it) for i >= 1, one array per order 1..max_order."""
        ids = np.asarray(ids, np.int64)
        targets = ids[1:]
        seen = self.unigrams > 0
        total, types = self.unigrams.sum(), float(seen.sum())
        probability = (self.unigrams[targets] + types / self.vocabulary_size) / (total + types)
        orders = [np.log(probability)]
        history = ids[:-1].copy()  # the id of the history of length k ending before each target (-1: unseen)
        for k in range(1, self.max_order):
            if k > 1:
                history = self.lookup(k - 2, np.concatenate([[-1], history[:-1]]), ids[:-1])
            known = history >= 0
            safe = np.where(known, history, 0)
            context = np.where(known, self.history_counts[k - 1][safe], 0.0)
            followers = np.where(known, self.followers[k - 1][safe], 0.0)
            gram = self.lookup(k - 1, history, targets)
            count = np.where(gram >= 0, self.gram_counts[k - 1][np.maximum(gram, 0)], 0.0)
            mixed = (count + followers * probability) / np.maximum(context + followers, 1e-300)
            probability = np.where(context > 0, mixed, probability)
            orders.append(np.log(probability))
        return orders

    def lookup(self, level: int, history: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Ranks of (history id, token) among the training keys of `level`, -1 where unseen."""
        keys = self.keys[level]
        codes = np.maximum(history, 0) * self.vocabulary_size + tokens
        positions = np.clip(np.searchsorted(keys, codes), 0, len(keys) - 1)
        return np.where((history >= 0) & (keys[positions] == codes), positions, -1)


def witten_bell_scores(train_ids, validation_ids, test_ids, vocabulary_size: int, max_order: int) -> dict:
    """Test perplexity and bits per token of the interpolated Witten-Bell model whose order
    (1 to `max_order`) scores best on validation, with every order's validation bits."""
    model = WittenBell(train_ids, vocabulary_size, max_order)
    validation = [float(-orders.mean() / math.log(2)) for orders in model.log_probabilities(validation_ids)]
    best = int(np.argmin(validation))
    mean_nats = float(-model.log_probabilities(test_ids)[best].mean())
    return {
        "order": best + 1,
        "perplexity": math.exp(mean_nats),
        "bits_per_token": mean_nats / math.log(2),
        "validation_bits_by_order": [round(bits, 4) for bits in validation],
    }

"""Toy parallel data a tiny model learns in seconds: each English number word becomes its
Spanish one, in the same order (copy) or reversed."""

import numpy as np

ENGLISH = ["one", "two", "three", "four", "five", "six", "seven", "eight"]
SPANISH = ["uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho"]
TO_SPANISH = dict(zip(ENGLISH, SPANISH))

# Small, and still enough to learn the copy task with attention in a few seconds.
TINY = [
    "units=32",
    "decoder_units=48",
    "embedding_dim=16",
    "batch_size=16",
    "dropout=0",
    "learning_rate=0.01",
    "verbose=0",
    "patience=30",
    "beam_width=3",
    "min_frequency=1",
]


def number_pairs(count, seed=0, reverse=False, lengths=(2, 7)):
    """(English, Spanish) pairs of random number words; Spanish reversed when asked."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        words = list(rng.choice(ENGLISH, size=rng.integers(*lengths)))
        spanish = [TO_SPANISH[word] for word in words]
        pairs.append((" ".join(words), " ".join(reversed(spanish) if reverse else spanish)))
    return pairs


def write_tsv(path, pairs, extra_column=False):
    """source<TAB>target lines (with a Tatoeba-like attribution column when asked)."""
    suffix = "\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 (x) & #2 (y)" if extra_column else ""
    path.write_text("".join(f"{source}\t{target}{suffix}\n" for source, target in pairs), encoding="utf-8")
    return path

"""A toy text with plenty of regularity, so a tiny language model learns it in seconds."""

import numpy as np

TINY = [
    "epochs=2",
    "units=16",
    "embedding_dim=8",
    "batch_size=4",
    "bptt=12",
    "steps_per_epoch=6",
    "verbose=0",
    "patience=5",
]

NAMES = ["ROMEO", "JULIET", "NURSE"]
WORDS = ["the", "moon", "is", "bright", "and", "my", "love", "sleeps", "soft", "light"]


def toy_text(lines: int = 200, seed: int = 0) -> str:
    """Speaker lines like a play: 'ROMEO: the moon is bright.' and so on."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(lines):
        words = rng.choice(WORDS, size=rng.integers(3, 8))
        rows.append(f"{NAMES[index % len(NAMES)]}: {' '.join(words)}.")
    return "\n".join(rows) + "\n"


def write_text(path, content: str):
    path.write_text(content, encoding="utf-8")
    return path

"""Toy reviews whose class shows in their words, so a tiny model learns them in seconds:
the data of the fault benchmark and of the tests that train sentiment end to end."""

import numpy as np

GOOD = ["good", "great", "fine", "lovely", "superb"]

BAD = ["bad", "awful", "dull", "boring", "poor"]


def review_rows(count, seed=0, classes=("pos", "neg")):
    """`count` (text, label) rows, the labels in turn from `classes`."""
    rng = np.random.default_rng(seed)
    words = {"pos": GOOD, "neg": BAD, "mixed": ["okay", "average", "so-so", "fair", "middling"]}
    rows = []
    for index in range(count):
        label = classes[index % len(classes)]
        picked = rng.choice(words[label], size=rng.integers(2, 12))
        rows.append((" ".join(["the", "film", "was", *picked]), label))
    return rows


def write_csv(path, rows, header=("text", "label")):
    """The rows as a CSV file with a header, at `path`; returns `path`."""
    lines = [",".join(header)] + [f'"{text_value}",{label}' for text_value, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

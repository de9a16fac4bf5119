"""Toy reviews whose class shows in their words, so a tiny model can learn them."""

import io
import tarfile

import numpy as np

TINY = ["epochs=2", "units=8", "embedding_dim=8", "batch_size=16", "verbose=0", "patience=5"]

GOOD = ["good", "great", "fine", "lovely", "superb"]

BAD = ["bad", "awful", "dull", "boring", "poor"]


def review_rows(count, seed=0, classes=("pos", "neg")):
    """Toy reviews whose class shows in their words, so a tiny model can learn them."""
    rng = np.random.default_rng(seed)
    words = {"pos": GOOD, "neg": BAD, "mixed": ["okay", "average", "so-so", "fair", "middling"]}
    rows = []
    for index in range(count):
        label = classes[index % len(classes)]
        picked = rng.choice(words[label], size=rng.integers(2, 12))
        rows.append((" ".join(["the", "film", "was", *picked]), label))
    return rows


def write_csv(path, rows, header=("text", "label")):
    lines = [",".join(header)] + [f'"{text_value}",{label}' for text_value, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_file(bundle, name, content):
    info = tarfile.TarInfo(name)
    info.size = len(content)
    bundle.addfile(info, io.BytesIO(content))

"""Attention heat maps: which source words the decoder read while writing each word."""

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def attention_heatmap(source_words, target_words, weights, path, title: str = "") -> bool:
    """One PNG: rows are the written words, columns the source words, darker = more attention.
    `weights` is [target words, source words]; words that are "" (padding) are left out.
    Returns False (and draws nothing) when either side has no words."""
    sources = [word for word in source_words if word]
    targets = [word for word in target_words if word]
    if not sources or not targets:
        return False
    matrix = np.asarray(weights)[: len(targets), : len(sources)]
    figure, axis = plt.subplots(figsize=(1.0 + 0.38 * max(len(sources), 4), 1.0 + 0.32 * max(len(targets), 4)))
    axis.imshow(matrix, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axis.set_xticks(range(len(sources)), sources, rotation=70, fontsize=8)
    axis.set_yticks(range(len(targets)), targets, fontsize=8)
    axis.set_xlabel("source")
    axis.set_ylabel("translation")
    if title:
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def decode_words(values) -> list[str]:
    """Byte strings from a string tensor row -> Python strings."""
    return [value.decode("utf-8") for value in values]

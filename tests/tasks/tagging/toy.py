"""Toy sentences and configs small enough to train in seconds."""

from tasks.tagging import data as tagging_data
from tasks.tagging.config import Config


def write(path, content: str):
    path.write_text(content, encoding="utf-8")
    return path


def conll(sentences) -> str:
    """CoNLL text: one `token tag` line per token, a blank line between sentences."""
    return "\n\n".join("\n".join(f"{token}\t{tag}" for token, tag in sentence) for sentence in sentences) + "\n"


def toy_config(**changes) -> Config:
    values = dict(epochs=1, units=8, embedding_dim=8, char_dim=4, char_filters=8, batch_size=8, verbose="0", patience=1)
    values["embeddings"] = ""  # toy vocabularies train from scratch: tests never read the 76 MB vectors
    values.update(changes)
    return Config(**values)


def toy_data(config, sentences):
    corpus = tagging_data.Corpus(
        tagging_data.Sentences([s[0] for s in sentences], [s[1] for s in sentences], "toy"), "toy"
    )
    return tagging_data.make_data(config, corpus)


TOY = [
    (["Bob", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"]),
    (["Ann", "Lee", "likes", "New", "York"], ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]),
    (["it", "rains"], ["O", "O"]),
] * 4

"""Held-out tagging scores: token accuracy and entity precision, recall and F1
(seqeval), the most confused tags, and the per-word baseline on the same sentences."""

import collections

import numpy as np
import tensorflow as tf

from tasks.tagging.baselines import most_frequent_tag_baseline
from tasks.tagging.config import Config
from tasks.tagging.data import Data, TokenEncoder, make_encoder
from tasks.tagging.model import tag_ragged


def predict_tags(model, encoder: TokenEncoder, config: Config, tag_names, sentences, batch_size=64) -> list[list[str]]:
    """Predicted tag strings for lists of tokens, in order (batches of similar length)."""
    tagger = tf.function(
        lambda tokens: tag_ragged(model, encoder, config, tokens),
        input_signature=[tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)],
    )
    order = sorted(range(len(sentences)), key=lambda index: len(sentences[index]))
    predicted = [None] * len(sentences)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        tokens = tf.ragged.constant([sentences[index] for index in chunk], dtype=tf.string, ragged_rank=1)
        for index, ids in zip(chunk, tagger(tokens).to_list()):
            predicted[index] = [tag_names[tag_id] for tag_id in ids]
    return predicted


def tagging_scores(gold: list[list[str]], predicted: list[list[str]], scheme: str) -> dict:
    """Token accuracy; with spans (bio/iobes), seqeval's entity precision, recall and F1
    (exact span matching, micro-averaged, and per type); and the most confused tags."""
    flat_gold = [tag for sentence in gold for tag in sentence]
    flat_predicted = [tag for sentence in predicted for tag in sentence]
    if len(flat_gold) != len(flat_predicted):
        raise ValueError("gold and predicted tags differ in length")
    scores = {"token_accuracy": float(np.mean([a == b for a, b in zip(flat_gold, flat_predicted)]))}
    confused = collections.Counter((a, b) for a, b in zip(flat_gold, flat_predicted) if a != b)
    scores["most_confused"] = [
        {"gold": a, "predicted": b, "count": count} for (a, b), count in confused.most_common(10)
    ]
    if scheme in ("bio", "iobes"):
        scores.update(entity_scores(gold, predicted, scheme))
    return scores


def entity_scores(gold, predicted, scheme: str) -> dict:
    """seqeval: conlleval-compatible mode for BIO (as published CoNLL numbers), strict for IOBES."""
    from seqeval import metrics
    from seqeval.scheme import IOBES

    options = {"mode": "strict", "scheme": IOBES} if scheme == "iobes" else {}
    report = metrics.classification_report(gold, predicted, output_dict=True, zero_division=0, **options)
    per_type = {
        name: {key: float(value) if key != "support" else int(value) for key, value in values.items()}
        for name, values in report.items()
        if not name.endswith(" avg")
    }
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "per_type": per_type,
    }


def evaluate(model, config: Config, data: Data, run_path=None) -> dict:
    """Held-out test scores of the model, and of the per-word baseline in the same run."""
    encoder = make_encoder(config, data.assets)
    predicted = predict_tags(model, encoder, config, data.assets.tag_names, data.tokens["test"])
    scores = tagging_scores(data.tags["test"], predicted, data.assets.scheme)
    baseline = most_frequent_tag_baseline(data.tokens["train"], data.tags["train"])
    scores["baseline"] = tagging_scores(data.tags["test"], baseline(data.tokens["test"]), data.assets.scheme)
    return scores

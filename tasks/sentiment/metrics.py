"""Sentiment scores on held-out data: accuracy, macro-F1, confusion matrix, loss."""

import numpy as np

from common import reports
from tasks.sentiment.config import Config
from tasks.sentiment.data import Data, make_datasets


def evaluate(model, config: Config, data: Data, run_path=None) -> dict:
    """Held-out test scores of the trained classifier."""
    test = make_datasets(config, data, config.batch_size, parts=("test",))["test"]
    return scores_on(model, test, data.assets.class_names)


def scores_on(model, dataset, class_names) -> dict:
    """Loss, accuracy, macro-F1 and confusion matrix of `model` on a dataset of (ids, label)."""
    true_labels, probabilities = [], []
    for token_ids, labels in dataset:
        probabilities.append(model(token_ids, training=False).numpy())
        true_labels.append(labels.numpy())
    true_labels, probabilities = np.concatenate(true_labels), np.concatenate(probabilities)
    scores = reports.classification_scores(true_labels, probabilities.argmax(axis=1), class_names)
    picked = probabilities[np.arange(len(true_labels)), true_labels]
    scores["loss"] = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    return scores

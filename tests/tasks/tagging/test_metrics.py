"""Tagging scores equal seqeval and hand counts."""

import pytest
from seqeval import metrics as seqeval_metrics

from tasks.tagging import metrics as tagging_metrics

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG", "O"]]

PREDICTED = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG", "O", "O"]]


def test_entity_scores_equal_seqeval_and_hand_counts():
    scores = tagging_metrics.tagging_scores(GOLD, PREDICTED, "bio")
    # 3 gold spans, 3 predicted, 1 exact match (PER); LOC mislabelled, ORG cut short.
    assert scores["precision"] == pytest.approx(1 / 3) and scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(seqeval_metrics.f1_score(GOLD, PREDICTED))
    assert scores["precision"] == pytest.approx(seqeval_metrics.precision_score(GOLD, PREDICTED))
    assert scores["recall"] == pytest.approx(seqeval_metrics.recall_score(GOLD, PREDICTED))
    assert scores["token_accuracy"] == pytest.approx(seqeval_metrics.accuracy_score(GOLD, PREDICTED)) == 0.75
    assert scores["per_type"]["PER"]["f1-score"] == 1.0 and scores["per_type"]["LOC"]["support"] == 1
    assert {"gold": "B-LOC", "predicted": "B-ORG", "count": 1} in scores["most_confused"]


def test_part_of_speech_scores_have_no_entity_metrics():
    scores = tagging_metrics.tagging_scores([["NN", "VB"]], [["NN", "NN"]], "none")
    assert scores["token_accuracy"] == 0.5 and "f1" not in scores

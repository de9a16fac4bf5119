"""The per-word most-frequent-tag baseline."""

from tasks.tagging.baselines import most_frequent_tag_baseline


def test_most_frequent_tag_baseline():
    baseline = most_frequent_tag_baseline([["the", "run", "run"], ["a", "run"]], [["DT", "NN", "VB"], ["DT", "NN"]])
    assert baseline([["run", "the", "unknown"]]) == [["NN", "DT", "DT"]]  # unknown: most frequent overall

"""Translation metrics: the attention's health, measured and warned about."""

import numpy as np
import pytest

from tasks.translation import metrics


def test_attention_health_reads_the_ends_and_the_spread_of_real_words_only():
    weights = np.zeros((3, 2, 5))
    weights[0, :, :4] = 0.25  # spread evenly over 4 words (the 5th is padding)
    weights[1, 0, 2] = weights[1, 1, 2] = 1.0  # all on the last of 3 words
    weights[2, 0, 0] = 1.0  # one source word: nothing to choose between, left out
    health = metrics.attention_health(weights, source_lengths=[4, 3, 1], target_lengths=[2, 2, 1])
    assert health["attention_first"] == pytest.approx((0.25 * 2 + 0 * 2) / 4)
    assert health["attention_last"] == pytest.approx((0.25 * 2 + 1 * 2) / 4)
    assert health["attention_entropy"] == pytest.approx((1 * 2 + 0 * 2) / 4)


def test_a_lock_on_one_end_is_warned_about_after_the_second_epoch():
    locked = {"attention_first": 0.01, "attention_last": 0.97, "attention_entropy": 0.02}
    assert metrics.locked_warning(locked, epochs=1) == ""
    warning = metrics.locked_warning(locked, epochs=2)
    assert warning.startswith("warning: after epoch 2 attention puts 0.97 of its weight on the last source word")
    assert "\n" not in warning
    assert metrics.locked_warning({**locked, "attention_last": 0.4}, epochs=5) == ""
    assert metrics.locked_warning({}, epochs=5) == ""

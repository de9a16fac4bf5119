"""The vocabulary benchmark's [UNK] share and table, on made-up tokens (no corpus)."""

import keras
import numpy as np
import pytest

from bench import translation_vocabulary


def test_the_unknown_share_counts_every_token_outside_the_vocabulary():
    vocabulary = ["", "[UNK]", "el", "señor"]
    tokens = [["el", "señor", "es"], ["mi", "pastor", "el", "."]]
    assert translation_vocabulary.unknown_share(vocabulary, tokens) == pytest.approx(4 / 7)


def test_the_table_gives_percentages_and_thousands():
    row = {
        "max_vocabulary": 8000, "target words": 8000, "source words": 7690, "target [UNK]": 0.0594,
        "source [UNK]": 0.0175, "parameters": 5116224, "logits MB": 52.2,
    }  # fmt: skip
    assert "| 8,000 | 8,000 | 7,690 | 5.94% | 1.75% | 5,116,224 | 52 |" in translation_vocabulary.table([row])


def test_the_step_time_column_is_a_ratio_to_the_configured_size():
    rows = [
        {"max_vocabulary": size, "target words": size, "source words": 7690, "target [UNK]": 0.05,
         "source [UNK]": 0.02, "parameters": 5116224, "logits MB": 52.2, "ms per step": ms}
        for size, ms in ((4000, 200.0), (8000, 300.0), (16000, 450.0))
    ]  # fmt: skip
    assert "| step time / 4,000's |" in translation_vocabulary.table(rows)  # no base given: the first
    text = translation_vocabulary.table(rows, base_size=8000)
    assert "| ms per step | step time / 8,000's |" in text
    assert "| 16,000 | 16,000 | 7,690 | 5.00% | 2.00% | 5,116,224 | 52 | 450 | 1.50x |" in text


def test_every_model_is_timed_on_its_own_batches_and_trains():
    def model_and_batches(width):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(width)])
        model.compile(optimizer="adam", loss="mse")
        batches = [(np.ones((4, 3), "float32"), np.zeros((4, width), "float32"))] * 2
        return model, batches

    trainables = [model_and_batches(2), model_and_batches(5)]
    before = [model.get_weights()[0].copy() for model, _ in trainables]
    times = translation_vocabulary.step_milliseconds(trainables, rounds=2)
    assert len(times) == 2 and all(milliseconds > 0 for milliseconds in times)
    assert all(not np.allclose(old, model.get_weights()[0]) for old, (model, _) in zip(before, trainables))


@pytest.mark.parametrize("argument, message", [("sizes=big", "sizes='big'"), ("steps=2,3", "steps='2,3'")])
def test_sizes_and_steps_must_be_whole_numbers(argument, message):
    with pytest.raises(translation_vocabulary.UserError, match=message):
        translation_vocabulary.main([argument])

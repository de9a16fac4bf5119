"""The vocabulary benchmark's [UNK] share and table, on made-up tokens (no corpus)."""

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


def test_sizes_must_be_whole_numbers():
    with pytest.raises(translation_vocabulary.UserError, match="sizes='big'"):
        translation_vocabulary.main(["sizes=big"])

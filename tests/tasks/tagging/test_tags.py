"""Tag schemes: detection, refusal, and repair of spans that start with I-."""

import pytest

from common.errors import UserError
from tasks.tagging import data as tagging_data
from tasks.tagging import tags
from tests.tasks.tagging.toy import conll, write


def test_i_tag_without_b_is_repaired_with_a_count_or_refused(tmp_path, capsys):
    path = write(tmp_path / "t.conll", conll([[("New", "I-LOC"), ("York", "I-LOC")], [("a", "O"), ("b", "I-PER")]]))
    sentences = tagging_data.read_conll(path)
    assert tags.repair_spans(sentences, "bio", repair=True) == 2
    assert sentences.tags == [["B-LOC", "I-LOC"], ["O", "B-PER"]]
    assert "2 I-/E- tag(s) with no B- before them repaired" in capsys.readouterr().out
    with pytest.raises(UserError, match=r"t\.conll, line 1: tag 'I-LOC'"):
        tags.repair_spans(tagging_data.read_conll(path), "bio", repair=False)


def test_repair_keeps_valid_spans_and_handles_iobes():
    assert tags.repair_sequence(["B-PER", "I-PER", "I-LOC", "O"], "bio") == (["B-PER", "I-PER", "B-LOC", "O"], [2])
    assert tags.repair_sequence(["O", "E-PER", "S-LOC"], "iobes") == (["O", "S-PER", "S-LOC"], [1])
    assert tags.repair_sequence(["B-PER", "E-PER"], "iobes") == (["B-PER", "E-PER"], [])


def test_scheme_detection_and_refusal(tmp_path):
    iobes = tagging_data.Sentences([["a", "b"]], [["B-X", "E-X"]], "x")
    assert tags.resolve_scheme("auto", [iobes]) == "iobes"
    pos = tagging_data.Sentences([["a"]], [["NN"]], "p.conll", [3])
    with pytest.raises(UserError, match=r"p\.conll, line 3: tag 'NN' is not valid under scheme=bio"):
        tags.resolve_scheme("bio", [pos])

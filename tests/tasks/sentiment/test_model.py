"""Sentiment model: every cell trains a step; default models stay cuDNN-eligible."""

import numpy as np
import pytest

from common import cells
from common.config import apply_overrides
from tasks.sentiment import data as sentiment_data
from tasks.sentiment import model as sentiment_model
from tasks.sentiment.config import Config
from tests.tasks.sentiment.toy import TINY, review_rows, write_csv


@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "none", "leaky_rnn"])
def test_every_cell_type_builds_and_trains_one_step(tmp_path, cell):
    data_file = write_csv(tmp_path / "reviews.csv", review_rows(64))
    config = apply_overrides(Config(), [f"dataset={data_file}", f"cell={cell}", "num_layers=2", *TINY])
    data = sentiment_data.load_data(config)
    model = sentiment_model.build_model(config, data.assets)
    before = [weight.copy() for weight in model.get_weights()]
    model.fit(sentiment_data.make_datasets(config, data, config.batch_size)["train"].take(1), verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_default_models_stay_cudnn_eligible(tmp_path, cell):
    data_file = write_csv(tmp_path / "reviews.csv", review_rows(30))
    config = apply_overrides(Config(), [f"dataset={data_file}", f"cell={cell}", "num_layers=2"])
    model = sentiment_model.build_model(config, sentiment_data.load_data(config).assets)
    layers = cells.recurrent_layers(model)
    assert len(layers) == 4 and all(cells.cudnn_blockers(layer) == [] for layer in layers)


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_a_tcn_classifier_sees_a_whole_text_and_ignores_padding(tmp_path, pooling):
    data_file = write_csv(tmp_path / "reviews.csv", review_rows(30))
    options = [f"dataset={data_file}", "cell=tcn", f"pooling={pooling}", "max_length=40", *TINY]
    config = apply_overrides(Config(), options)
    model = sentiment_model.build_model(config, sentiment_data.load_data(config).assets)
    assert cells.speed_notes(model)["receptive_field"] >= config.max_length
    ids = np.array([[5, 6, 7, 0, 0, 0], [5, 6, 7, 8, 9, 4]])
    np.testing.assert_allclose(model(ids[:, :3])[0], model(ids)[0], atol=1e-6)

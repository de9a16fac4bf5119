"""Sentiment model: every cell trains a step; default models stay cuDNN-eligible."""

import numpy as np
import pytest

from common import cells
from common.config import apply_overrides
from tasks.sentiment import data as sentiment_data
from tasks.sentiment import model as sentiment_model
from tasks.sentiment.config import Config
from tests.tasks.sentiment.toy import TINY, review_rows, write_csv


@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "none"])
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

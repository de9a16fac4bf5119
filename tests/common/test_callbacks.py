import keras
import numpy as np
import pandas as pd
import pytest

from common.callbacks import BestEpoch, EpochRandomState


@pytest.mark.parametrize(
    "values, mode, best, stale",
    [([0.9, 0.7, 0.8], "min", 0.7, 1), ([0.5, 0.6, 0.4, 0.3], "max", 0.6, 2), ([], "min", None, 0)],
)
def test_early_stopping_and_the_best_epoch_go_on_from_the_history(tmp_path, values, mode, best, stale):
    history = pd.DataFrame({"epoch": range(len(values)), "val_loss": values})
    state = BestEpoch(tmp_path / "best.weights.h5", "val_loss", mode, patience=2, history=history)
    assert (state.best, state.stale, state.done) == (best, stale, stale >= 2)


def test_each_epoch_draws_its_dropout_masks_from_a_state_fixed_by_seed_and_epoch():
    def masks(model, epoch):
        callback = EpochRandomState(seed=5)
        callback.set_model(model)
        callback.on_epoch_begin(epoch)
        return keras.ops.convert_to_numpy(model(np.ones((4, 6, 3)), training=True))

    def dropout_model():
        inputs = keras.Input((6, 3))
        hidden = keras.layers.LSTM(8, dropout=0.5, recurrent_dropout=0.5)(inputs)
        return keras.Model(inputs, keras.layers.Dropout(0.5)(hidden))

    first, resumed = dropout_model(), dropout_model()
    resumed.set_weights(first.get_weights())
    masks(first, 0), masks(first, 1)  # an uninterrupted run's earlier epochs
    np.testing.assert_array_equal(masks(first, 2), masks(resumed, 2))
    assert not np.array_equal(masks(first, 2), masks(first, 3))

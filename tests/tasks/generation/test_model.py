"""Generation model: the step model with carried state, shared weights, options refused."""

import keras
import numpy as np
import pytest

from common.config import apply_overrides
from common.errors import UserError
from tasks.generation import model as generation_model
from tasks.generation.config import Config, resolve_defaults
from tasks.generation.data import Assets

VOCABULARY = ["", "[UNK]", "[START]", "[END]", *"abcdefgh"]


def toy_config(*overrides):
    return resolve_defaults(apply_overrides(Config(), ["dataset=book.txt", "units=8", "embedding_dim=6", *overrides]))


def assets(train_tokens=1000):
    return Assets(VOCABULARY, "char", False, train_tokens)


@pytest.mark.parametrize(
    "cell, layers", [("lstm", 2), ("gru", 1), ("simple_rnn", 1), ("peephole_lstm", 2), ("leaky_rnn", 1)]
)
def test_stepwise_logits_with_carried_state_equal_the_full_sequence(cell, layers):
    config = toy_config(f"cell={cell}", f"num_layers={layers}")
    step_model = generation_model.build_step_model(config, assets())
    ids = np.random.default_rng(0).integers(4, len(VOCABULARY), size=(3, 9)).astype("int32")
    widths = generation_model.state_shapes(config)
    states = [np.zeros((3, width), "float32") for width in widths]
    full_logits = step_model([ids, *states])[0].numpy()
    stepwise = []
    for position in range(ids.shape[1]):
        logits, *states = step_model([ids[:, position : position + 1], *states])
        states = [state.numpy() for state in states]
        stepwise.append(logits.numpy()[:, 0])
    np.testing.assert_allclose(np.stack(stepwise, axis=1), full_logits, atol=1e-5)


def test_training_and_step_models_compute_the_same_function():
    config = toy_config("num_layers=2", "tie_embeddings=true", "embedding_dim=8")
    trained = generation_model.build_model(config, assets())
    step_model = generation_model.build_step_model(config, assets(), weights_from=trained)
    ids = np.random.default_rng(1).integers(4, len(VOCABULARY), size=(2, 7)).astype("int32")
    zeros = [np.zeros((2, 8), "float32")] * len(generation_model.state_shapes(config))
    np.testing.assert_allclose(step_model([ids, *zeros])[0].numpy(), trained(ids).numpy(), atol=1e-6)
    assert trained.output.dtype == "float32"


def test_sequential_batching_makes_the_training_model_stateful():
    config = toy_config("batching=sequential", "batch_size=3")
    trained = generation_model.build_model(config, assets())
    layers = [layer for layer in trained.layers if isinstance(layer, keras.layers.LSTM)]
    assert layers and all(layer.stateful for layer in layers)
    assert not any(
        getattr(layer, "stateful", False) for layer in generation_model.build_model(toy_config(), assets()).layers
    )


def test_bidirectional_is_refused_with_its_reason():
    with pytest.raises(
        UserError, match="refused for this task: a language model predicts each token from the ones before"
    ):
        apply_overrides(Config(), ["bidirectional=true"])


def test_tied_embeddings_need_matching_widths():
    with pytest.raises(UserError, match=r"tie_embeddings needs embedding_dim \(6\) equal to units \(8\)"):
        toy_config("tie_embeddings=true").validate()


@pytest.mark.parametrize("layers", [1, 2])
def test_a_tcn_steps_through_text_with_its_token_history(layers):
    """The TCN's step model carries the last tokens: one token at a time it gives what one
    pass over the whole text gives, and from an empty history what the training model gives."""
    config = toy_config("cell=tcn", f"num_layers={layers}", "bptt=12")
    assert generation_model.history_length(config) == (4 if layers == 1 else 8)  # receptive field - 1, within bptt
    trained = generation_model.build_model(config, assets())
    step_model = generation_model.build_step_model(config, assets(), weights_from=trained)
    ids = np.random.default_rng(2).integers(4, len(VOCABULARY), size=(2, 20)).astype("int32")
    ids[1, 15:] = 0  # right padding
    history = [np.zeros((2, generation_model.history_length(config)), "float32")]
    full = step_model([ids, *history])[0].numpy()
    real = ids != 0
    np.testing.assert_allclose(full[real], trained(ids).numpy()[real], atol=1e-5)
    stepwise = []
    for position in range(ids.shape[1]):
        logits, history = step_model([ids[:, position : position + 1], *history])
        history = [history.numpy()]
        stepwise.append(logits.numpy()[:, 0])
    np.testing.assert_allclose(np.stack(stepwise, axis=1)[real], full[real], atol=1e-5)


def test_a_tcns_history_ends_at_each_rows_last_real_token():
    history = np.array([[0, 0, 7], [5, 6, 7]], "float32")
    new_ids = np.array([[8, 9, 0], [4, 0, 0]], "int32")
    ids, following = generation_model.TokenHistory(3)([history, new_ids])
    np.testing.assert_array_equal(ids, [[0, 0, 7, 8, 9, 0], [5, 6, 7, 4, 0, 0]])
    np.testing.assert_array_equal(following, [[7, 8, 9], [6, 7, 4]])


def test_a_tcn_language_model_is_never_stateful():
    config = toy_config("cell=tcn", "batching=sequential", "batch_size=3")
    trained = generation_model.build_model(config, assets())
    assert not any(getattr(layer, "stateful", False) for layer in trained.layers)


def test_no_recurrence_baseline_builds_without_state():
    config = toy_config("cell=none")
    step_model = generation_model.build_step_model(config, assets())
    assert generation_model.state_shapes(config) == [] and len(step_model.outputs) == 1


def test_sgd_schedule_halves_after_the_full_rate_epochs():
    config = toy_config("optimizer=sgd", "learning_rate=1.0", "lr_decay=0.5", "decay_after=2", "epochs=4", "bptt=10")
    config = apply_overrides(config, ["batch_size=10", "steps_per_epoch=0"])
    optimizer = generation_model.make_language_model_optimizer(config, assets(train_tokens=1001))  # 10 steps per epoch
    rates = [float(optimizer._learning_rate(step)) for step in (0, 19, 20, 30)]
    assert rates == [1.0, 1.0, 0.5, 0.25]


def test_word_level_models_can_start_from_pretrained_vectors(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("moon 1 2 3\nlove -1 0 1\n", encoding="utf-8")
    config = toy_config("tokenizer=word", f"embeddings={vectors}")
    config.validate()
    words = Assets(["", "[UNK]", "[START]", "[END]", "moon", "love", "sleeps"], "word", False, 1000)
    model = generation_model.build_model(config, words)
    matrix = model.get_layer("embedding").embeddings.numpy()
    np.testing.assert_array_equal(matrix[4:6], [[1, 2, 3], [-1, 0, 1]])
    step_model = generation_model.build_step_model(config, words, weights_from=model)
    np.testing.assert_array_equal(step_model.get_layer("embedding").embeddings.numpy(), matrix)


def test_pretrained_vectors_are_refused_at_character_level():
    with pytest.raises(UserError, match="need tokenizer=word or token"):
        toy_config("embeddings=glove-6b-50d").validate()

"""Generation serving without training: word level stops at END; scoring counts END."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import text
from common.config import apply_overrides
from tasks.generation import serve
from tasks.generation.config import Config, resolve_defaults
from tasks.generation.data import Assets
from tasks.generation.model import build_step_model

WORDS = ["", "[UNK]", "[START]", "[END]", "the", "moon", "is", "bright", "."]


def word_generator(favourite: int):
    """A word-level generator whose model always prefers token `favourite`."""
    config = resolve_defaults(apply_overrides(Config(), ["dataset=book.txt", "tokenizer=word", "units=8"]))
    assets = Assets(WORDS, "word", True, 100)
    step_model = build_step_model(config, assets)
    bias = step_model.get_layer("logits").bias
    bias.assign(np.where(np.arange(len(WORDS)) == favourite, 10.0, 0.0).astype("float32"))
    return serve.Generator(step_model, config, assets)


def greedy(generator, prompts, max_length=6, beam_width=1):
    return generator.generate(tf.constant(prompts), 0.0, 0, 1.0, max_length, 0, beam_width)


def test_word_level_generation_stops_at_the_end_of_a_sentence():
    for beam_width in (1, 3):
        answer = greedy(word_generator(text.END_ID), ["the moon", ""], beam_width=beam_width)
        assert answer["length"].numpy().tolist() == [0, 0] and answer["text"].numpy().tolist() == [b"", b""]


def test_word_level_continuation_joins_words_and_unknown_prompt_words_are_read():
    answer = greedy(word_generator(WORDS.index("moon")), ["the zebra is"])  # "zebra" is unknown
    assert answer["text"].numpy().tolist() == [b"moon moon moon moon moon moon"]


def test_score_counts_the_end_of_each_sentence():
    scored = word_generator(WORDS.index("moon")).score(tf.constant(["the moon", ""]))
    assert scored["token_count"].numpy().tolist() == [3, 1]  # the, moon, END; an empty sentence is END
    assert (scored["log_likelihood"].numpy()[1, 1:] == 0).all()


def test_a_tcn_generates_what_rerunning_the_whole_prefix_gives():
    """The export's loop carries a TCN's token history; greedy decoding from it equals
    running the model again over the prompt and everything written so far."""
    characters = ["", "[UNK]", "[START]", "[END]", "\n", *"abcdefg"]
    config = resolve_defaults(apply_overrides(Config(), ["dataset=book.txt", "cell=tcn", "bptt=12", "units=8"]))
    assets = Assets(characters, "char", False, 100)
    tf.keras.utils.set_random_seed(4)
    generator = serve.Generator(build_step_model(config, assets), config, assets)
    prompts = ["abc", "gfedcbagfedcba"]  # the second is longer than the receptive field (5)
    written = greedy(generator, prompts, max_length=8)["text"].numpy().tolist()
    for prompt, answer in zip(prompts, written):
        ids = [characters.index(token) for token in "\n" + prompt]
        for _ in range(8):
            zeros = np.zeros((1, generator.widths[0]), "float32")  # an empty history: the whole prefix is read
            logits = generator.step_model([np.array([ids], "int32"), zeros])[0].numpy()[0, -1]
            ids.append(int(np.argmax(np.where(generator.never_written.numpy(), -1e9, logits))))
        assert answer.decode() == "".join(characters[index] for index in ids[len(prompt) + 1 :])


CHARACTERS = ["", "[UNK]", "[START]", "[END]", "\n", " ", ":", *"REOMxabcdefgh"]


@pytest.mark.parametrize(
    "cell, layers", [("lstm", 2), ("gru", 1), ("simple_rnn", 1), ("peephole_lstm", 1), ("leaky_rnn", 1), ("tcn", 1)]
)
def test_each_prompt_in_a_batch_gets_what_it_gets_alone(cell, layers):
    """Rows of different lengths are right-padded: a padded step must keep the state, so
    the shorter prompts continue and score as they do alone (the state after the prompt
    equal, greedy text identical), whatever else shares their batch."""
    overrides = ["dataset=book.txt", f"cell={cell}", f"num_layers={layers}", "units=16", "bptt=12"]
    config = resolve_defaults(apply_overrides(Config(), overrides))
    assets = Assets(CHARACTERS, "char", False, 100)
    keras.utils.set_random_seed(3)
    generator = serve.Generator(build_step_model(config, assets), config, assets)
    prompts = ["ROMEO:", "ROMEO: x", "", "ROMEO: abcdefgh abcdefgh"]
    batched_start, batched_states = generator.prompt_state(tf.constant(prompts))
    batched_text = greedy(generator, prompts, max_length=30)["text"].numpy()
    batched_scores = generator.score(tf.constant(prompts))
    for row, prompt in enumerate(prompts):
        start, states = generator.prompt_state(tf.constant([prompt]))
        assert int(batched_start[row]) == int(start[0])
        for together, alone in zip(batched_states, states):
            np.testing.assert_allclose(together[row], alone[0], atol=1e-5, err_msg=f"{cell}: {prompt!r}")
        assert batched_text[row] == greedy(generator, [prompt], max_length=30)["text"].numpy()[0], (cell, prompt)
        scored = generator.score(tf.constant([prompt]))
        count = int(scored["token_count"][0])
        assert int(batched_scores["token_count"][row]) == count
        np.testing.assert_allclose(
            batched_scores["log_likelihood"][row, :count], scored["log_likelihood"][0, :count], atol=1e-5
        )

"""In-graph stepwise generation against the two naive ways, same model, one run.

    python -m bench.generation_speed [key=value ...]   (or: make bench-generation ARGS="tokens=500")

The model is the latest finished `make train TASK=generation` run's (or, with none, an
untrained model of the default configuration: speed does not depend on the weights).
Each generator writes a greedy continuation of the same prompt:

- in-graph: the prompt runs through the model once, then one token per step with the
  state carried, inside `tf.while_loop` (`tasks.generation.serve.Generator`, the export's code);
- growing prefix: for each new token the model reads the whole prefix so far from the zero
  state (the same continuation as in-graph, at a cost that grows with the length);
- fixed window: for each new token the model reads only the last `WINDOW` tokens from the
  zero state, as keras-io's character example does (40 characters; a constant cost per
  token, but it forgets everything before the window, so its text differs).

Printed: tokens per second of each, milliseconds per token at two lengths (the growing
prefix slows as it grows; the others stay flat), and in-graph's speed over each naive
one's. The table is written to runs/generation/bench-<time>.md.
"""

import sys
import time

import keras
import numpy as np
import tensorflow as tf

from common.config import apply_overrides, load_config
from common.errors import UserError
from common.runs import find_run, write_report
from common.task import load_assets
from tasks.generation import data as generation_data
from tasks.generation.config import Config, resolve_defaults
from tasks.generation.model import build_model, build_step_model, state_shapes
from tasks.generation.serve import Generator

PROMPT = "ROMEO:"
WINDOWS = (40, 100)  # keras-io's character example re-reads 40 characters per new one
SHORT = 100  # the shorter of the two lengths whose time per token is printed


def load_model(overrides: list[str]):
    """(step model, config, assets, what it is): the latest run's, else untrained at the defaults."""
    try:
        run = find_run("generation", "")
    except UserError:
        config = resolve_defaults(apply_overrides(Config(), overrides))
        assets = generation_data.load_data(config).assets
        return build_step_model(config, assets, weights_from=build_model(config, assets)), config, assets, "untrained"
    config = load_config(Config, run / "config.json")
    assets = load_assets(generation_data.Assets, run / "assets.json")
    model = keras.models.load_model(run / "model.keras", compile=False)
    return build_step_model(config, assets, weights_from=model), config, assets, f"run {run.name}"


def seconds_of(function, repeats: int = 3) -> float:
    """Median wall-clock seconds of `function()` over `repeats` calls."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def in_graph(generator: Generator):
    """count -> the greedy continuation of PROMPT (text), from the export's stepwise loop."""
    generate = tf.function(generator.generate)
    settings = (tf.constant(0.0), tf.constant(0), tf.constant(1.0))
    seed_and_beam = (tf.constant(0, tf.int64), tf.constant(1))
    return lambda count: generate(tf.constant([PROMPT]), *settings, tf.constant(count), *seed_and_beam)["text"]


def naive(step_model, prompt_ids: list[int], widths: list[int], window: int | None = None):
    """count -> greedy token ids, re-running the model from the zero state for every token
    over the whole prefix so far (`window` None) or over its last `window` tokens."""
    zeros = [tf.zeros([1, width]) for width in widths]

    @tf.function(reduce_retracing=True)
    def next_token(prefix):
        logits = tf.nest.flatten(step_model([prefix, *zeros], training=False))[0]
        return tf.argmax(logits[0, -1, 4:], output_type=tf.int32) + 4  # padding, unknown, markers ruled out

    def generate(count):
        tokens = list(prompt_ids)
        for _ in range(count):
            read = tokens if window is None else tokens[-window:]
            tokens.append(int(next_token(tf.constant([read], tf.int32))))
        return tokens[len(prompt_ids) :]

    return generate


def measure(generate, tokens: int) -> dict:
    """Tokens per second over `tokens`, and milliseconds per token over `SHORT` tokens and
    over `tokens`; each a median of three runs."""
    generate(3)  # warm-up: tracing
    total = seconds_of(lambda: generate(tokens))
    short = seconds_of(lambda: generate(SHORT))
    return {
        "tokens_per_second": tokens / total,
        "seconds": total,
        "short_ms_per_token": 1000 * short / SHORT,
        "ms_per_token": 1000 * total / tokens,
    }


def main(arguments: list[str]) -> None:
    options = [argument for argument in arguments if not argument.startswith("tokens=")]
    tokens = int(next((a.split("=", 1)[1] for a in arguments if a.startswith("tokens=")), 500))
    step_model, config, assets, source = load_model(options)
    generator = Generator(step_model, config, assets)
    context = generation_data.context_id(assets.vocabulary, assets.level)
    prompt_ids = [context, *generator.prompt_encoder.ragged_ids(tf.constant([PROMPT])).flat_values.numpy().tolist()]
    print(f"model: {source}, {config.cell} {config.num_layers}x{config.units}, {tokens} tokens", file=sys.stderr)
    widths = state_shapes(config)
    stepwise, rerun = in_graph(generator), naive(step_model, prompt_ids, widths)
    generators = {"in-graph stepwise (export)": stepwise, "growing prefix re-read": rerun}
    for window in WINDOWS:
        generators[f"fixed {window}-token window re-read"] = naive(step_model, prompt_ids, widths, window)
    rows = {name: measure(generate, tokens) for name, generate in generators.items()}
    same = stepwise(tokens).numpy()[0] == generator.decoder(tf.constant([rerun(tokens)])).numpy()[0]
    lines = [
        f"| generator | tokens/s | seconds for {tokens} | ms/token at {SHORT} | ms/token at {tokens} "
        "| in-graph speed-up |",
        "|---|---|---|---|---|---|",
    ]
    fastest = rows["in-graph stepwise (export)"]["tokens_per_second"]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['tokens_per_second']:.1f} | {row['seconds']:.2f} | {row['short_ms_per_token']:.2f} "
            f"| {row['ms_per_token']:.2f} | {fastest / row['tokens_per_second']:.1f}x |"
        )
    lines.append(
        f"\n{tokens} greedy tokens, {source}, {config.cell} {config.num_layers}x{config.units}; in-graph and the "
        f"growing prefix write the same continuation: {bool(same)}"
    )
    table = "\n".join(lines)
    print(table)
    print(f"\nwritten to {write_report('generation', 'bench', table)}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""In-graph stepwise generation against the naive way, same model, one run.

    python -m bench.generation_speed [key=value ...]   (or: make bench-generation ARGS="tokens=500")

The model is the latest finished `make train TASK=generation` run's (or, with none, an
untrained model of the default configuration: speed does not depend on the weights).
Both generators write the same greedy continuation of the same prompt:

- in-graph: the prompt runs through the model once, then one token per step with the
  state carried, inside `tf.while_loop` (`tasks.generation.serve.Generator`, the export's code);
- naive: for each new token the model reads the whole growing prefix from the zero state
  and the last position's logits give the token (what keras-io's character example does).

Printed: tokens per second of each and their ratio, and the time of the last 100 tokens
over the time of the first 100 for each (about 1 when the time per token stays flat).
The table is written to runs/generation/bench-<time>.md.
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
BLOCK = 100  # tokens per block when comparing the first and the last block's time


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


def naive(step_model, prompt_ids: list[int], widths: list[int]):
    """count -> greedy token ids, re-running the model over the whole prefix for every token."""
    zeros = [tf.zeros([1, width]) for width in widths]

    @tf.function(reduce_retracing=True)
    def next_token(prefix):
        logits = tf.nest.flatten(step_model([prefix, *zeros], training=False))[0]
        return tf.argmax(logits[0, -1, 4:], output_type=tf.int32) + 4  # padding, unknown, markers ruled out

    def generate(count):
        tokens = list(prompt_ids)
        for _ in range(count):
            tokens.append(int(next_token(tf.constant([tokens], tf.int32))))
        return tokens[len(prompt_ids) :]

    return generate


def measure(generate, tokens: int) -> dict:
    """Tokens per second over `tokens`, and the last block's time over the first block's
    (the last block's time is the whole run's minus that of a run `BLOCK` tokens shorter);
    each a median of three runs."""
    generate(3)  # warm-up: tracing
    total = seconds_of(lambda: generate(tokens))
    shorter = seconds_of(lambda: generate(tokens - BLOCK))
    first = seconds_of(lambda: generate(BLOCK))
    return {"tokens_per_second": tokens / total, "flatness": (total - shorter) / first, "seconds": total}


def main(arguments: list[str]) -> None:
    options = [argument for argument in arguments if not argument.startswith("tokens=")]
    tokens = int(next((a.split("=", 1)[1] for a in arguments if a.startswith("tokens=")), 500))
    step_model, config, assets, source = load_model(options)
    generator = Generator(step_model, config, assets)
    context = generation_data.context_id(assets.vocabulary, assets.level)
    prompt_ids = [context, *generator.prompt_encoder.ragged_ids(tf.constant([PROMPT])).flat_values.numpy().tolist()]
    print(f"model: {source}, {config.cell} {config.num_layers}x{config.units}, {tokens} tokens", file=sys.stderr)
    stepwise, rerun = in_graph(generator), naive(step_model, prompt_ids, state_shapes(config))
    rows = {"in-graph stepwise (export)": measure(stepwise, tokens), "naive prefix re-run": measure(rerun, tokens)}
    same = stepwise(tokens).numpy()[0] == generator.decoder(tf.constant([rerun(tokens)])).numpy()[0]
    lines = ["| generator | tokens/s | seconds | last 100 / first 100 tokens' time |", "|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['tokens_per_second']:.1f} | {row['seconds']:.2f} | {row['flatness']:.2f} |")
    ratio = rows["in-graph stepwise (export)"]["tokens_per_second"] / rows["naive prefix re-run"]["tokens_per_second"]
    lines.append(
        f"\nin-graph / naive: **{ratio:.1f}x** the tokens per second ({tokens} greedy tokens, {source}, "
        f"{config.cell} {config.num_layers}x{config.units}); the same continuation: {bool(same)}"
    )
    table = "\n".join(lines)
    print(table)
    print(f"\nwritten to {write_report('generation', 'bench', table)}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Gradient flow through time: how much of the loss's gradient reaches each time step.

`make gradients TASK=sentiment` measures ||dL/dh_t||, the norm of the loss's gradient
with respect to the recurrent layer's hidden state at step t, on real passages of the
task's data, for SimpleRNN, GRU and LSTM: at initialisation, and after a short training
with gradient clipping (the task's `clipnorm`) and without it, from the same initial
weights. The curves are plotted against the distance from the last step, T - t, on a
log scale: the vanishing gradients of the lectures, made visible.

The model is the task's own, built with one forward recurrent layer and the last state
as the sentence vector (`pooling=last`), so the loss reads h_t (t < T) only through the
recurrence and its gradient must travel back through time to get there.
"""

import dataclasses
import datetime
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common import reports, runtime
from common.cells import CELL_LAYERS, check_cell
from common.config import Options, apply_overrides, option
from common.errors import UserError
from common.runs import runs_root

SUPPORTED_TASKS = ("sentiment",)
# The recurrent layer is measured as the task's model uses it, read through the last step.
MEASURED_SHAPE = {"bidirectional": False, "num_layers": 1, "pooling": "last"}
REPORTED_DISTANCES = (0, 1, 10, 50, 100)
CONDITIONS = ("init", "clipped", "unclipped")  # the three measurements per cell
# "Unclipped" trains with a global clipnorm no gradient reaches rather than none: when it
# clips, Keras multiplies every gradient by the scale (1.0 when nothing is clipped), which
# makes the embedding's sparse gradient dense and by itself changes Adam's updates (from
# the second step on: checked against densifying the gradient by hand). So both
# trainings take the same path and differ only in the clipping.
NEVER_CLIPS = 1e9


@dataclasses.dataclass
class GradientOptions(Options):
    """The command's own options; every other key=value goes to the task's config."""

    cells: str = option("simple_rnn,gru,lstm", "recurrent cells measured, comma-separated")
    length: int = option(120, "tokens per measured passage (T); sentences of one class are joined to reach it")
    steps: int = option(150, "training steps between the measurement at initialisation and the one after")
    batches: int = option(8, "validation batches (batch_size passages each) measured; fewer if there are fewer")

    def validate(self):
        super().validate()
        for cell in self.cell_list:
            if check_cell(cell) not in CELL_LAYERS:
                raise UserError(
                    f"cell {cell!r} has no recurrent state to measure; choose from {', '.join(CELL_LAYERS)}"
                )
        if self.length < 2 or self.steps < 1 or self.batches < 1:
            raise UserError("length must be at least 2, steps and batches at least 1")

    @property
    def cell_list(self) -> list[str]:
        return [cell.strip() for cell in self.cells.split(",") if cell.strip()]


def parse_options(task, overrides: list[str]):
    """(GradientOptions, task config) from the command line's key=value pairs."""
    if task.name not in SUPPORTED_TASKS:
        raise UserError(
            f"gradients measures many-to-one classifiers read through their last state: "
            f"{', '.join(SUPPORTED_TASKS)}, not {task.name}"
        )
    own = [field.name for field in dataclasses.fields(GradientOptions)]
    known = own + [field.name for field in dataclasses.fields(task.Config) if field.name != "cell"]
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if key == "cell":
            raise UserError("gradients takes cells=a,b,c (comma-separated), not cell=")
        if "=" in item and key not in known:
            raise UserError(f"unknown option {key!r} for gradients; valid: {', '.join(known)}")
    mine = [item for item in overrides if item.split("=", 1)[0].strip() in own]
    theirs = [item for item in overrides if item not in mine]
    options = apply_overrides(GradientOptions(), mine)
    config = apply_overrides(dataclasses.replace(task.Config(), **MEASURED_SHAPE), theirs)
    for name, value in MEASURED_SHAPE.items():
        if getattr(config, name) != value:
            raise UserError(f"gradients measures one forward layer read at its last step; leave {name} at {value}")
    if config.clipnorm <= 0:
        raise UserError("clipnorm must be above 0: the clipped training is compared with the unclipped one")
    return options, config


# ---------------------------------------------------------------- data: passages of a fixed length


def make_passages(token_ids: list[list[int]], labels, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Passages of exactly `length` tokens, each of one class, shuffled (seeded).

    A text with `length` tokens or more gives its first `length`; shorter texts of the
    same class are joined, in order, until they reach it (MR sentences average 21
    tokens). The rest of a text past a passage's end is dropped, and so is each class's
    last, unfinished passage. No padding, so every step of every passage is real text.
    """
    passages, passage_labels = [], []
    for label in sorted(set(np.asarray(labels).tolist())):
        buffer = []
        for ids, text_label in zip(token_ids, labels):
            if text_label != label:
                continue
            buffer.extend(ids)
            if len(buffer) >= length:
                passages.append(buffer[:length])
                passage_labels.append(label)
                buffer = []
    order = np.random.default_rng(seed).permutation(len(passages))
    return np.array(passages, dtype=np.int32).reshape(-1, length)[order], np.array(passage_labels, np.int32)[order]


def task_passages(task, config, length: int) -> tuple[object, dict]:
    """(the task's assets, {"train": (ids, labels), "validation": (ids, labels)}): passages
    from the task's own split, so the vocabulary comes from the training part only."""
    from tasks.sentiment.data import make_encoder

    data = task.load_data(config)
    encoder = make_encoder(config, data.assets.vocabulary)
    result = {}
    for part in ("train", "validation"):
        ids = encoder.ragged_ids(tf.constant(data.texts[part], dtype=tf.string)).to_list()
        result[part] = make_passages(ids, data.labels[part], length, config.seed)
        if len(result[part][0]) == 0:
            raise UserError(f"the {part} texts of one class, joined, do not fill {length} tokens; lower length=")
    return data.assets, result


# ---------------------------------------------------------------- dL/dh_t for every t


def split_at_recurrence(model) -> tuple[list, keras.layers.Layer, list]:
    """(layers before, the recurrent layer, layers after) of a model that is one chain of
    layers with one SimpleRNN/GRU/LSTM in it (sentiment's, built with `MEASURED_SHAPE`)."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    recurrent = [index for index, layer in enumerate(layers) if isinstance(layer, tuple(CELL_LAYERS.values()))]
    if len(recurrent) != 1 or layers[recurrent[0]].return_sequences:
        raise UserError(f"{model.name} is not one chain through a single recurrent layer read at its last step")
    index = recurrent[0]
    return layers[:index], layers[index], layers[index + 1 :]


def hidden_state_gradients(model, token_ids, labels):
    """(dL/dh_t for every example and step, [batch, T, units]; the probabilities).

    Keras runs a recurrent layer as one fused loop whose per-step states are not tensors
    we can differentiate with respect to, so the layer's own cell (its weights) is
    stepped here, in `tf.scan`. A zero "probe" is added to each new hidden state before
    it goes on to the next step (and, at the last step, to the head): h_t + probe_t
    changes nothing, and d loss / d probe_t is then exactly dL/dh_t, every path through
    the later steps included. (A probe added to the layer's output sequence instead is
    not fed back into the recurrence and sees only the direct path to the loss: zero for
    every t < T when the last state is read.) `tf.scan` rather than a Python loop: one
    loop in the graph, traced in a second, where T unrolled steps took 10-20 s to trace.
    L is the sum of the examples' losses, so each example's slice is its own loss's
    gradient. Inference mode: dropout off.
    """
    before, recurrent, after = split_at_recurrence(model)
    inputs = token_ids
    for layer in before:
        inputs = layer(inputs, training=False)
    batch = tf.shape(inputs)[0]
    states = [tf.zeros([batch, size], inputs.dtype) for size in keras.tree.flatten(recurrent.cell.state_size)]
    probe = tf.zeros([tf.shape(inputs)[1], batch, recurrent.cell.units], inputs.dtype)  # time first, as scan wants

    def step(states, inputs_and_probe):
        inputs_t, probe_t = inputs_and_probe
        hidden, new_states = recurrent.cell(inputs_t, states, training=False)
        return [hidden + probe_t, *new_states[1:]]  # h_t is the first state; an LSTM's c_t follows it

    with tf.GradientTape() as tape:
        tape.watch(probe)
        every_state = tf.scan(step, (tf.transpose(inputs, [1, 0, 2]), probe), initializer=states)
        outputs = every_state[0][-1]  # h_T
        for layer in after:
            outputs = layer(outputs, training=False)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, outputs))
    return tf.transpose(tape.gradient(loss, probe), [1, 0, 2]), outputs


def norms_by_distance(model, batches) -> tuple[np.ndarray, dict]:
    """Mean over examples of ||dL/dh_t||, indexed by distance from the last step (T - t,
    0 = the last step), and the loss and accuracy on those examples."""
    measure = tf.function(lambda ids, labels: hidden_state_gradients(model, ids, labels), autograph=False)
    norms, losses, correct = [], [], []
    for ids, labels in batches:
        gradients, probabilities = measure(ids, labels)
        norms.append(tf.norm(gradients, axis=-1).numpy())
        losses.append(keras.losses.sparse_categorical_crossentropy(labels, probabilities).numpy())
        correct.append(np.argmax(probabilities, axis=-1) == labels.numpy())
    norms = np.concatenate(norms)  # [examples, T]
    scores = {"loss": float(np.mean(np.concatenate(losses))), "accuracy": float(np.mean(np.concatenate(correct)))}
    return norms.mean(axis=0)[::-1], scores


# ---------------------------------------------------------------- training between the measurements


def train_steps(model, dataset) -> list[tuple[float, float]]:
    """Train `model` with its compiled optimizer on every batch of `dataset`; (loss,
    global gradient norm before clipping) per step. The optimizer clips by global norm
    (`common.optimizers.make_optimizer`) after the norm is read here; it is the norm Keras compares
    with clipnorm (an embedding's repeated tokens counted once per occurrence, as there)."""
    model.optimizer.build(model.trainable_variables)

    @tf.function(autograph=False)  # no Python control flow on tensors to convert
    def step(ids, labels):
        with tf.GradientTape() as tape:
            probabilities = model(ids, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply(gradients, model.trainable_variables)
        return loss, tf.linalg.global_norm(gradients)

    return [tuple(float(value) for value in step(ids, labels)) for ids, labels in dataset]


def training_batches(ids, labels, batch_size: int, steps: int, seed: int) -> list:
    """`steps` batches of training passages in a seeded order, reshuffled each pass. A
    list, so the clipped and the unclipped training see exactly the same batches."""
    rng = np.random.default_rng(seed)
    passes = -(-steps * batch_size // len(ids))  # rounded up
    order = np.concatenate([rng.permutation(len(ids)) for _ in range(passes)])
    chosen = [order[step * batch_size : (step + 1) * batch_size] for step in range(steps)]
    return [(tf.constant(ids[rows]), tf.constant(labels[rows])) for rows in chosen]


def measure_cell(task, config, cell: str, assets, passages: dict, options: GradientOptions) -> dict:
    """The three curves of one cell (init, trained clipped, trained unclipped), the
    scores at each, and the training steps' losses and gradient norms."""
    measured = tf.data.Dataset.from_tensor_slices(passages["validation"]).batch(config.batch_size)
    measured = list(measured.take(options.batches))
    training = training_batches(*passages["train"], config.batch_size, options.steps, config.seed)
    result = {"curves": {}, "scores": {}, "training": {}}
    for condition, clipnorm in (("clipped", config.clipnorm), ("unclipped", NEVER_CLIPS)):
        cell_config = dataclasses.replace(config, cell=cell, clipnorm=clipnorm)
        runtime.set_seeds(config.seed)  # the same initial weights and dropout masks for both
        model = task.build_model(cell_config, assets)
        if condition == "clipped":
            result["curves"]["init"], result["scores"]["init"] = norms_by_distance(model, measured)
        result["training"][condition] = train_steps(model, training)
        result["curves"][condition], result["scores"][condition] = norms_by_distance(model, measured)
    result["examples"] = sum(int(ids.shape[0]) for ids, _ in measured)
    return result


# ---------------------------------------------------------------- the command


def gradient_flow(task, overrides: list[str]) -> Path:
    """`make gradients TASK=...`: measure, plot and tabulate ||dL/dh_t|| for each cell;
    writes runs/<task>/gradients-<time>/ (in a temporary folder first) and returns it."""
    options, config = parse_options(task, overrides)
    config = runtime.prepare(task, config)
    assets, passages = task_passages(task, config, options.length)
    reports.print_data_summary(
        {
            "passages": f"{options.length} tokens",
            "train_passages": len(passages["train"][0]),
            "validation_passages": len(passages["validation"][0]),
        }
    )
    results = {}
    for cell in options.cell_list:
        started = time.perf_counter()
        results[cell] = measure_cell(task, config, cell, assets, passages, options)
        results[cell]["seconds"] = round(time.perf_counter() - started, 1)
        print(progress_line(cell, results[cell], options.length))
    name = f"gradients-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    staging = runs_root() / task.name / ".incomplete" / name
    staging.mkdir(parents=True)
    command = f"make gradients TASK={task.name}" + (f' ARGS="{" ".join(overrides)}"' if overrides else "")
    try:
        write_outputs(staging, results, config, options, command)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # never leave half of it behind
        raise
    final = runs_root() / task.name / name
    os.replace(staging, final)
    print(f"written to {final}")
    return final


def progress_line(cell: str, result: dict, length: int) -> str:
    far = min(100, length - 1)
    parts = [
        f"{condition} {result['curves'][condition][0]:.2e} -> {result['curves'][condition][far]:.2e}"
        for condition in CONDITIONS
    ]
    return f"{cell}: ||dL/dh|| at 0 -> {far} steps back: {', '.join(parts)} ({result['seconds']} s)"


def write_outputs(folder, results: dict, config, options: GradientOptions, command: str) -> None:
    """gradient_flow.png, gradient_flow.csv, gradients.json and gradients.md into `folder`."""
    plot_gradient_flow(results, config, options, folder / "gradient_flow.png")
    rows = ["cell,condition,distance,mean_gradient_norm"]
    for cell, result in results.items():
        for condition in CONDITIONS:
            rows += [f"{cell},{condition},{d},{value:.6e}" for d, value in enumerate(result["curves"][condition])]
    (folder / "gradient_flow.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    summary = {
        "command": command,
        "options": dataclasses.asdict(options),
        "config": dataclasses.asdict(config),
        "cells": {
            cell: {
                "examples": result["examples"],
                "seconds": result["seconds"],
                "scores": result["scores"],
                "curves": {condition: result["curves"][condition].tolist() for condition in CONDITIONS},
                "training": {
                    condition: [{"loss": loss, "gradient_norm": norm} for loss, norm in steps]
                    for condition, steps in result["training"].items()
                },
            }
            for cell, result in results.items()
        },
    }
    (folder / "gradients.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    (folder / "gradients.md").write_text(gradients_markdown(results, config, options, command), encoding="utf-8")


def gradients_markdown(results: dict, config, options: GradientOptions, command: str) -> str:
    """The command, what was measured, and ||dL/dh_t|| at a few distances per cell."""
    distances = [d for d in REPORTED_DISTANCES if d < options.length]
    header = ["cell", "measured", *[f"{d} back" for d in distances], f"ratio {distances[-1]}/0", "loss", "accuracy"]
    lines = [
        "# Gradient flow through time",
        "",
        f"`{command}`",
        "",
        f"Mean over validation passages of {options.length} tokens of ||dL/dh_t||, t = T - distance; "
        f"L is one passage's loss; `{config.dataset}`, units={config.units}, batch_size={config.batch_size}, "
        f"learning_rate={config.learning_rate}, seed={config.seed}. `clipped`: after {options.steps} training "
        f"steps with global_clipnorm={config.clipnorm}; `unclipped`: the same steps, batches and initial "
        f"weights with global_clipnorm={NEVER_CLIPS:g}, which no step reaches (the same update path, no "
        "clipping). Loss and accuracy on the measured passages.",
        "",
    ]
    curves = []
    for cell, result in results.items():
        for condition in CONDITIONS:
            curve, scores = result["curves"][condition], result["scores"][condition]
            values = [f"{curve[d]:.3g}" for d in distances] + [f"{curve[distances[-1]] / curve[0]:.2g}"]
            curves.append([cell, condition, *values, f"{scores['loss']:.3f}", f"{scores['accuracy']:.3f}"])
    clipping = []
    for cell, result in results.items():
        clipped = np.array([norm for _, norm in result["training"]["clipped"]])
        unclipped = np.array([norm for _, norm in result["training"]["unclipped"]])
        share = f"{int(np.sum(clipped > config.clipnorm))} of {len(clipped)}"
        clipping.append([cell, share, f"{np.median(clipped):.3g} / {np.median(unclipped):.3g}"])
    clipping_header = ["cell", "training steps clipped (norm > clipnorm)", "median gradient norm, clipped / unclipped"]
    lines += [reports.markdown_table(header, curves), "", reports.markdown_table(clipping_header, clipping)]
    return "\n".join(lines) + "\n"


def plot_gradient_flow(results: dict, config, options: GradientOptions, path) -> None:
    """Three panels of ||dL/dh_t|| against distance (init, clipped, unclipped), one line
    per cell on a log scale, and a fourth with the training steps' gradient norms."""
    import matplotlib.pyplot as plt

    titles = {
        "init": "at initialisation",
        "clipped": f"after {options.steps} steps, global_clipnorm={config.clipnorm}",
        "unclipped": f"after {options.steps} steps, no clipping",
    }
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    panels = dict(zip(CONDITIONS, axes.flat))
    colours = dict(zip(results, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for condition, axis in panels.items():
        for cell, result in results.items():
            axis.plot(result["curves"][condition], label=cell, color=colours[cell])
        axis.set(
            yscale="log", title=titles[condition], xlabel="steps back from the last, T - t", ylabel="mean ||dL/dh_t||"
        )
        axis.grid(alpha=0.3, which="both")
        axis.legend()
    shared = min(axis.get_ylim()[0] for axis in panels.values()), max(axis.get_ylim()[1] for axis in panels.values())
    for axis in panels.values():
        axis.set_ylim(shared)
    axis = axes.flat[3]
    for cell, result in results.items():
        for condition, style in (("clipped", "-"), ("unclipped", ":")):
            norms = [norm for _, norm in result["training"][condition]]
            axis.plot(norms, style, color=colours[cell], label=f"{cell}, {condition}")
    axis.axhline(config.clipnorm, color="black", linewidth=0.8, label=f"clipnorm {config.clipnorm}")
    axis.set(yscale="log", title="global gradient norm before clipping", xlabel="training step", ylabel="norm")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=7)
    figure.suptitle(f"Gradient flow through time: {config.dataset}, passages of {options.length} tokens")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)

"""What the translation vocabulary size buys and costs, without a full training.

    python -m bench.translation_vocabulary [key=value ...]   (or: make bench-translation-vocabulary)

For each `max_vocabulary` (option `sizes=4000,8000,12000,16000`; any other option is a
training option, e.g. `split_seed=43`): the vocabularies a run builds from its training
verses (`min_frequency` applies), the share of the validation verses' words (punctuation
included) they turn into `[UNK]`, the model's parameter count and logits size for one
batch of the longest verses, and the time of a training step (`steps=20` of the run's
own first training batches each, the sizes taking turns over 5 rounds after a warm-up, so
a shared machine's load falls on all alike; `steps=0` skips it), also as a ratio to the
configured size (8,000 by default; the first size if it is not measured). Validation
only: a size is chosen on it, never on test. The table is printed and written to
runs/translation/vocabulary-<time>.md.
"""

import dataclasses
import statistics
import sys
import time

from bench.arguments import whole_numbers
from common import reports
from common.config import apply_overrides
from common.errors import UserError
from common.runs import write_report
from tasks.translation import data as translation_data
from tasks.translation.task import TASK

SIZES = (4000, 8000, 12000, 16000)
STEPS = 20
ROUNDS = 5


def unknown_share(vocabulary: list[str], token_lists: list[list[str]]) -> float:
    """The share of tokens that are not in `vocabulary` (so become `[UNK]`)."""
    known = set(vocabulary)
    tokens = [token for tokens in token_lists for token in tokens]
    return sum(token not in known for token in tokens) / len(tokens)


def measure(config, corpus, steps: int) -> tuple[dict, tuple]:
    """One size's vocabularies, validation [UNK] shares and model size; and the compiled
    model with its first `steps` training batches, for timing."""
    data = translation_data.make_data(config, corpus)
    assets = data.assets
    sources, targets = data.pairs["validation"]
    model = TASK.build_model(config, assets)
    # The decoder writes max_length words and [END]: that many positions of logits a verse.
    logits_bytes = 4 * config.batch_size * (config.max_length + 1) * len(assets.target_vocabulary)
    row = {
        "max_vocabulary": config.max_vocabulary,
        "target words": len(assets.target_vocabulary),
        "source words": len(assets.source_vocabulary),
        "target [UNK]": unknown_share(assets.target_vocabulary, translation_data.tokenize(targets, config.lowercase)),
        "source [UNK]": unknown_share(assets.source_vocabulary, translation_data.tokenize(sources, config.lowercase)),
        "parameters": model.count_params(),
        "logits MB": logits_bytes / 1e6,
    }
    batches = list(TASK.make_datasets(config, data, config.batch_size)["train"].take(steps)) if steps else []
    return row, (model, batches)


def training_pass(model, batches) -> float:
    """Milliseconds per training step over `batches`."""
    started = time.perf_counter()
    for inputs, targets in batches:
        model.train_on_batch(inputs, targets)
    return 1000 * (time.perf_counter() - started) / len(batches)


def step_milliseconds(trainables: list[tuple], rounds: int = ROUNDS) -> list[float]:
    """The median milliseconds per training step of each (model, batches), the models
    taking turns round by round after a warm-up pass that traces every batch shape."""
    for model, batches in trainables:
        training_pass(model, batches)
    times = [[] for _ in trainables]
    for _ in range(rounds):
        for timed, (model, batches) in zip(times, trainables, strict=True):
            timed.append(training_pass(model, batches))
    return [statistics.median(timed) for timed in times]


def table(rows: list[dict], base_size: int = 0) -> str:
    """The Markdown table; step times as a ratio to the `base_size` row (else the first)."""
    base = next((row for row in rows if row["max_vocabulary"] == base_size), rows[0])
    timed = "ms per step" in base
    lines = []
    for row in rows:
        cells = [f"{row[key]:,}" for key in ("max_vocabulary", "target words", "source words")]
        cells += [f"{100 * row[key]:.2f}%" for key in ("target [UNK]", "source [UNK]")]
        cells += [f"{row['parameters']:,}", f"{row['logits MB']:.0f}"]
        if timed:
            cells += [f"{row['ms per step']:.0f}", f"{row['ms per step'] / base['ms per step']:.2f}x"]
        lines.append(cells)
    header = list(rows[0]) + ([f"step time / {base['max_vocabulary']:,}'s"] if timed else [])
    return reports.markdown_table(header, lines)


def main(arguments: list[str]) -> None:
    sizes, steps, overrides = SIZES, STEPS, []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key == "sizes":
            sizes = whole_numbers(key, value)
        elif key == "steps":
            counts = whole_numbers(key, value)
            if len(counts) != 1 or counts[0] < 0:
                raise UserError(f"steps={value!r}: give one number of training steps to time (0 skips the timing)")
            steps = counts[0]
        else:
            overrides.append(argument)
    config = apply_overrides(TASK.Config(), overrides)
    corpus = translation_data.load_corpus(config)
    measured = [measure(dataclasses.replace(config, max_vocabulary=size), corpus, steps) for size in sizes]
    rows = [row for row, _ in measured]
    if steps:
        for row, milliseconds in zip(rows, step_milliseconds([trainable for _, trainable in measured]), strict=True):
            row["ms per step"] = milliseconds
    note = (
        f"options: {' '.join(overrides) or '(the defaults)'}; min_frequency={config.min_frequency}; "
        f"split seed {config.data_split_seed}; logits of one batch of {config.batch_size} verses "
        f"of {config.max_length} words and [END], float32"
    )
    if steps:
        note += f"; ms per step: median of {ROUNDS} rounds of the first {steps} training batches, sizes in turn"
    report = f"{note}\n\n{table(rows, config.max_vocabulary)}"
    print(f"\n{report}")
    print(f"\nwritten to {write_report(TASK.name, 'vocabulary', report)}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except UserError as error:
        sys.exit(f"error: {error}")

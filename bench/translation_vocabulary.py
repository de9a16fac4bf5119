"""What the translation vocabulary size buys and costs, without training.

    python -m bench.translation_vocabulary [key=value ...]   (or: make bench-translation-vocabulary)

For each `max_vocabulary` (option `sizes=4000,8000,12000,16000`; any other option is a
training option, e.g. `split_seed=43`): the vocabularies a run builds from its training
verses (`min_frequency` applies), the share of the validation verses' words (punctuation
included) they turn into `[UNK]`, and the model's parameter count and logits size for one
batch of the longest verses. Validation only: a size is chosen on it, never on test.
The table is printed and written to runs/translation/vocabulary-<time>.md.
"""

import dataclasses
import sys

from bench.arguments import whole_numbers
from common import reports
from common.config import apply_overrides
from common.errors import UserError
from common.runs import write_report
from tasks.translation import data as translation_data
from tasks.translation.task import TASK

SIZES = (4000, 8000, 12000, 16000)


def unknown_share(vocabulary: list[str], token_lists: list[list[str]]) -> float:
    """The share of tokens that are not in `vocabulary` (so become `[UNK]`)."""
    known = set(vocabulary)
    tokens = [token for tokens in token_lists for token in tokens]
    return sum(token not in known for token in tokens) / len(tokens)


def measure(config, corpus) -> dict:
    """One size's vocabularies, validation [UNK] shares and model size."""
    data = translation_data.make_data(config, corpus)
    assets = data.assets
    sources, targets = data.pairs["validation"]
    model = TASK.build_model(config, assets)
    # The decoder writes max_length words and [END]: that many positions of logits a verse.
    logits_bytes = 4 * config.batch_size * (config.max_length + 1) * len(assets.target_vocabulary)
    return {
        "max_vocabulary": config.max_vocabulary,
        "target words": len(assets.target_vocabulary),
        "source words": len(assets.source_vocabulary),
        "target [UNK]": unknown_share(assets.target_vocabulary, translation_data.tokenize(targets, config.lowercase)),
        "source [UNK]": unknown_share(assets.source_vocabulary, translation_data.tokenize(sources, config.lowercase)),
        "parameters": model.count_params(),
        "logits MB": logits_bytes / 1e6,
    }


def table(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        cells = [f"{row[key]:,}" for key in ("max_vocabulary", "target words", "source words")]
        cells += [f"{100 * row[key]:.2f}%" for key in ("target [UNK]", "source [UNK]")]
        cells += [f"{row['parameters']:,}", f"{row['logits MB']:.0f}"]
        lines.append(cells)
    return reports.markdown_table(list(rows[0]), lines)


def main(arguments: list[str]) -> None:
    sizes, overrides = SIZES, []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key == "sizes":
            sizes = whole_numbers(key, value)
        else:
            overrides.append(argument)
    config = apply_overrides(TASK.Config(), overrides)
    corpus = translation_data.load_corpus(config)
    rows = [measure(dataclasses.replace(config, max_vocabulary=size), corpus) for size in sizes]
    note = (
        f"options: {' '.join(overrides) or '(the defaults)'}; min_frequency={config.min_frequency}; "
        f"split seed {config.data_split_seed}; logits of one batch of {config.batch_size} verses "
        f"of {config.max_length} words and [END], float32"
    )
    report = f"{note}\n\n{table(rows)}"
    print(f"\n{report}")
    print(f"\nwritten to {write_report(TASK.name, 'vocabulary', report)}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except UserError as error:
        sys.exit(f"error: {error}")

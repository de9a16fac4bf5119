"""Bucketed, right-padded, masked batches vs the common pre-padded pipeline, on MR.

    python -m bench.sentiment_padding [key=value ...]     (or: make bench ARGS="epochs=3")

Trains the same model on the same split twice in one process: once with our pipeline
(length buckets, padding at the end, masked) and once the common way (every sentence
pre-padded to the longest, no mask). Prints examples per second of each, their ratio,
and both test accuracies. Both runs get the same fixed number of epochs so the
speed comparison covers the same work.
"""

import sys
import tempfile
from pathlib import Path

from common import text, training
from common.config import apply_overrides
from tasks import sentiment


def measure(config, corpus) -> dict:
    training.set_seeds(config.seed)
    data = sentiment.make_data(config, corpus)
    model = sentiment.build_model(config, data)
    datasets = sentiment.make_datasets(config, data)
    with tempfile.TemporaryDirectory() as folder:
        history = training.fit(model, datasets["train"], datasets["validation"], config, Path(folder))
    scores = sentiment.evaluate(model, data, config, datasets["test"])
    return {**training.throughput(history, len(data.texts["train"])), "accuracy": scores["accuracy"]}


def main(overrides: list[str]) -> None:
    base = apply_overrides(sentiment.Config(), ["epochs=4", "patience=100", "verbose=2", *overrides])
    corpus = sentiment.load_corpus(base)
    longest = max(len(tokens) for tokens in text.tokenize(corpus.texts, base.tokenizer, base.lowercase))
    results = {}
    for pipeline in sentiment.PIPELINES:
        config = apply_overrides(base, [f"pipeline={pipeline}", f"max_length={longest}"])
        print(f"== {pipeline}", file=sys.stderr)
        results[pipeline] = measure(config, corpus)
    print(
        f"\nMR, {base.cell} bidirectional={base.bidirectional} units={base.units}, {base.epochs} epochs each, "
        f"longest sentence {longest} tokens"
    )
    print(f"{'pipeline':<12}{'examples/s':>12}{'test accuracy':>15}")
    for pipeline, result in results.items():
        print(f"{pipeline:<12}{result['examples_per_second']:>12.1f}{result['accuracy']:>15.4f}")
    speedup = results["bucketed"]["examples_per_second"] / results["prepadded"]["examples_per_second"]
    difference = 100 * (results["bucketed"]["accuracy"] - results["prepadded"]["accuracy"])
    print(f"speed-up bucketed / prepadded: {speedup:.2f}x; accuracy difference: {difference:+.2f} points")


if __name__ == "__main__":
    main(sys.argv[1:])

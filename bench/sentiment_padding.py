"""Bucketed, right-padded, masked batches vs the common pre-padded pipeline, on MR.

    python -m bench.sentiment_padding [key=value ...]     (or: make bench ARGS="epochs=3")

Trains the same model on the same split twice in one process: once with our pipeline
(length buckets, padding at the end, masked) and once the common way (every sentence
pre-padded to the longest, no mask). The two alternate epoch by epoch (in turn going
first), so a busy shared machine slows both alike. Throughput counts training time only;
each model keeps its best epoch on validation accuracy, and both test accuracies are
printed with the ratio of examples per second.
"""

import statistics
import sys
import time

from common import text
from common.config import apply_overrides
from common.runtime import set_seeds
from tasks.sentiment import config as sentiment_config
from tasks.sentiment import data as sentiment_data
from tasks.sentiment import metrics as sentiment_metrics
from tasks.sentiment.model import build_model


class Contender:
    """One pipeline's model, data and running totals."""

    def __init__(self, config, corpus):
        self.config = config
        self.data = sentiment_data.make_data(config, corpus)
        self.model = build_model(config, self.data.assets)
        self.datasets = sentiment_data.make_datasets(config, self.data, config.batch_size)
        self.epoch_seconds = []
        self.best_accuracy, self.best_weights = -1.0, None

    def train_one_epoch(self) -> None:
        started = time.perf_counter()
        self.model.fit(self.datasets["train"], epochs=1, verbose=0, shuffle=False)
        self.epoch_seconds.append(time.perf_counter() - started)
        accuracy = self.evaluate("validation")["accuracy"]
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_weights = accuracy, self.model.get_weights()

    def evaluate(self, part: str) -> dict:
        return sentiment_metrics.scores_on(self.model, self.datasets[part], self.data.assets.class_names)

    def result(self, epochs: int) -> dict:
        self.model.set_weights(self.best_weights)
        test = self.evaluate("test")
        examples = self.data.train_examples
        # Steady state: the median epoch after the first (which also traces the graph).
        steady = statistics.median(self.epoch_seconds[1:] or self.epoch_seconds)
        return {
            "examples_per_second": examples * epochs / sum(self.epoch_seconds),
            "steady_examples_per_second": examples / steady,
            "accuracy": test["accuracy"],
        }


def main(overrides: list[str]) -> None:
    base = apply_overrides(sentiment_config.Config(), ["epochs=4", *overrides])
    corpus = sentiment_data.load_corpus(base)
    longest = max(len(tokens) for tokens in text.tokenize(corpus.texts, base.tokenizer, base.lowercase))
    contenders = {}
    for pipeline in sentiment_config.PIPELINES:
        set_seeds(base.seed)
        config = apply_overrides(base, [f"pipeline={pipeline}", f"max_length={longest}"])
        contenders[pipeline] = Contender(config, corpus)
    for epoch in range(base.epochs):
        order = list(contenders.values())
        for contender in order if epoch % 2 == 0 else order[::-1]:
            contender.train_one_epoch()
        seconds = ", ".join(f"{name} {c.epoch_seconds[-1]:.1f}s" for name, c in contenders.items())
        print(f"epoch {epoch + 1}/{base.epochs}: {seconds}", file=sys.stderr)
    results = {name: contender.result(base.epochs) for name, contender in contenders.items()}
    print(
        f"\nMR, {base.cell} bidirectional={base.bidirectional} units={base.units}, {base.epochs} epochs each "
        f"(best on validation kept), longest sentence {longest} tokens"
    )
    print(f"{'pipeline':<12}{'examples/s (all epochs)':>25}{'(steady state)':>16}{'test accuracy':>15}")
    for pipeline, result in results.items():
        print(
            f"{pipeline:<12}{result['examples_per_second']:>25.1f}{result['steady_examples_per_second']:>16.1f}"
            f"{result['accuracy']:>15.4f}"
        )
    bucketed, prepadded = results["bucketed"], results["prepadded"]
    overall = bucketed["examples_per_second"] / prepadded["examples_per_second"]
    steady = bucketed["steady_examples_per_second"] / prepadded["steady_examples_per_second"]
    difference = 100 * (bucketed["accuracy"] - prepadded["accuracy"])
    print(
        f"speed-up bucketed / prepadded: {overall:.2f}x over all epochs, {steady:.2f}x steady state; "
        f"accuracy difference: {difference:+.2f} points"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

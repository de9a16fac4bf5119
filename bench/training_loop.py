"""A reference check of the trainer's epoch loop: Keras's `model.fit` against
`distribution.run_epochs` (the loop every run trains with), in one process on sentiment
MR with the same seed, data and batches.

    python -m bench.training_loop [--repeats 2]      (or: make bench-loop)

Prints examples per second (tracing included) and the validation accuracy and training
loss of each epoch, for each way, alternating, so the numbers say whether the trainer's
loop still gives Keras's own results at Keras's speed (the trainer no longer calls
`model.fit`; here it is only the reference).
"""

import argparse
import time

import keras

from common import distribution, runtime
from common.config import apply_overrides
from tasks import get_task

OPTIONS = ["epochs=2", "units=32", "embedding_dim=32", "dropout=0.0", "verbose=0", "batch_size=64"]


def train_once(task, config, data, way: str) -> str:
    runtime.set_seeds(config.seed)
    model = task.build_model(config, data.assets)
    datasets = task.make_datasets(config, data, config.batch_size)
    history = keras.callbacks.History()
    started = time.perf_counter()
    if way == "model.fit":
        model.fit(
            datasets["train"],
            validation_data=datasets["validation"],
            epochs=config.epochs,
            verbose=0,
            callbacks=[history],
            shuffle=False,
        )
    else:
        strategy = runtime.get_strategy()
        distribution.run_epochs(model, strategy, datasets["train"], datasets["validation"], config.epochs, [history], 0)
    speed = config.epochs * data.train_examples / (time.perf_counter() - started)
    accuracy = ", ".join(f"{value:.4f}" for value in history.history["val_accuracy"])
    loss = ", ".join(f"{value:.4f}" for value in history.history["loss"])
    return f"| {way} | {speed:.1f} | {accuracy} | {loss} |"


def main(arguments) -> None:
    task = get_task("sentiment")
    config = runtime.prepare(task, apply_overrides(task.Config(), OPTIONS))
    data = task.load_data(config)
    print(f"sentiment, {' '.join(OPTIONS)}\n")
    print("| way | examples/s | val_accuracy by epoch | loss by epoch |\n|---|---|---|---|")
    for _ in range(arguments.repeats):
        for way in ("model.fit", "run_epochs"):
            print(train_once(task, config, data, way), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    main(parser.parse_args())

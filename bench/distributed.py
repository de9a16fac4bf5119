"""Two workers on this machine vs one process: the same training, side by side.

    python -m bench.distributed [--options "epochs=3 units=32"] [--batch 32]   (or: make bench-distributed)

Trains sentiment on MR twice with the same global batch (`--batch` examples a step): once
as one process, once as two workers on 127.0.0.1 (TF_CONFIG, MultiWorkerMirroredStrategy),
each reading its half of the data at half the batch. Prints examples per second, the
final and best validation accuracy and the test accuracy of both, and what one step costs
in communication: the gradients all-reduced across the workers (every trainable weight,
float32), the time one all-reduce of that size takes between two workers (measured
apart), and the seconds a step took on each side. On a machine of few cores the two
workers share them, so no speed-up is expected; the point is that nothing is lost.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas

from common import reports

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(runs: Path, options: list[str], tf_config: dict | None = None) -> subprocess.Popen:
    environment = dict(os.environ, RNN_SUITE_RUNS=str(runs), TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG="")
    if tf_config:
        environment["TF_CONFIG"] = json.dumps(tf_config)
    command = [sys.executable, "main.py", "train", "sentiment", "verbose=0", *options]
    return subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen) -> float:
    """Wait for a training process; its wall seconds (start-up included)."""
    started = time.perf_counter()
    _, errors = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"training failed: {errors[-3000:]}")
    return time.perf_counter() - started


def time_all_reduce(values: int, repeats: int = 20) -> None:
    """(Run as one of two workers.) Milliseconds one all-reduce of `values` float32 takes
    across the workers: what every training step adds for its gradients."""
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    gradient = tf.ones([values])

    @tf.function
    def all_reduce():
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("sum", gradient))

    all_reduce()  # trace and connect first
    started = time.perf_counter()
    for _ in range(repeats):
        result = all_reduce()
    float(tf.reduce_sum(strategy.experimental_local_results(result)[0]))
    print(json.dumps({"ms": (time.perf_counter() - started) / repeats * 1000}))


def all_reduce_ms(values: int) -> float:
    """Two workers on 127.0.0.1 timing an all-reduce of `values` float32 (worker 0's time)."""
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        environment = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="3")
        command = [sys.executable, "-m", "bench.distributed", "--all-reduce", str(values)]
        processes.append(subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True))
    outputs = [process.communicate()[0] for process in processes]
    return json.loads(outputs[0].strip().splitlines()[-1])["ms"]


def result(runs: Path, seconds: float, global_batch: int) -> dict:
    [run] = [path for path in (runs / "sentiment").iterdir() if not path.name.startswith(".")]
    metrics = json.loads((run / "metrics.json").read_text())
    history = pandas.read_csv(run / "history.csv")
    steps = -(-metrics["data"]["train_examples"] // global_batch) * len(history)
    return {
        "examples/s": metrics["examples_per_second"],
        "seconds per step": metrics["training_seconds"] / steps,
        "final val_accuracy": float(history["val_accuracy"].iloc[-1]),
        "best val_accuracy": float(history["val_accuracy"].max()),
        "test accuracy": metrics["accuracy"],
        "wall seconds": seconds,
        "parameters": metrics["parameters"],
    }


def main(arguments) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    options = arguments.options.split()
    one = start(work / "one", [*options, f"batch_size={arguments.batch}"])
    results = {"one process": result(work / "one", finish(one), arguments.batch)}
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = [
        start(
            work / "two",
            [*options, f"batch_size={arguments.batch // 2}"],
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}},
        )
        for index in range(2)
    ]
    seconds = max(finish(process) for process in processes)
    results["two workers"] = result(work / "two", seconds, arguments.batch)
    names = list(results["one process"])
    print(f"sentiment, {' '.join(options)}, global batch {arguments.batch}\n")
    rows = [[label] + [format_value(values[name]) for name in names] for label, values in results.items()]
    print(reports.markdown_table(["", *names], rows))
    parameters = results["two workers"]["parameters"]
    kib = parameters * 4 / 1024
    extra = results["two workers"]["seconds per step"] - results["one process"]["seconds per step"]
    print(
        f"\nper step the workers all-reduce {parameters} gradient values ({kib:.0f} KiB of float32); with two "
        f"workers a ring all-reduce sends and receives about that much per worker (2(n-1)/n of it).\n"
        f"one all-reduce of that size between two workers on 127.0.0.1: {all_reduce_ms(parameters):.1f} ms "
        f"(alone, measured apart).\n"
        f"a step took {extra * 1000:+.1f} ms on two workers vs one process (communication plus sharing the cores)."
    )


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--options", default="epochs=3 units=32 embedding_dim=32 patience=5 dropout=0.0")
    parser.add_argument("--batch", type=int, default=64, help="the global batch, the same on both sides (even)")
    parser.add_argument("--all-reduce", type=int, default=0, help=argparse.SUPPRESS)  # a worker of all_reduce_ms
    arguments = parser.parse_args()
    if arguments.all_reduce:
        time_all_reduce(arguments.all_reduce)
    else:
        main(arguments)

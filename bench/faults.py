"""Random SIGKILL trials on a toy training run: does the same command always finish it?

    python -m bench.faults [--trials 50] [--seed 0]      (or: make bench-faults)

Each trial starts `main.py train sentiment` on a toy set of reviews, kills it with SIGKILL
after a random delay (anywhere from start-up to the export), then runs the same command
again until it finishes. Prints how many trials finished, how many needed more than one
rerun, how many had to train from the first epoch again, any stack trace seen, and the
largest difference of the final test accuracy and loss from an uninterrupted run's.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.tasks.sentiment.toy import review_rows, write_csv

OPTIONS = ["epochs=4", "units=8", "embedding_dim=8", "batch_size=16", "verbose=0", "patience=5"]


def run(folder: Path, data: Path, kill_after: float | None = None) -> tuple[int, str, str]:
    environment = dict(os.environ, RNN_SUITE_RUNS=str(folder), TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "main.py", "train", "sentiment", f"dataset={data}", *OPTIONS]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


def finished_runs(folder: Path) -> list[Path]:
    root = folder / "sentiment"
    return [path for path in root.iterdir() if not path.name.startswith(".")] if root.exists() else []


def final_metrics(folder: Path) -> dict:
    [run_path] = finished_runs(folder)
    return json.loads((run_path / "metrics.json").read_text())


def main(arguments) -> None:
    rng = random.Random(arguments.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    data = write_csv(work / "reviews.csv", review_rows(400))
    started = time.perf_counter()
    code, _, err = run(work / "reference", data)
    duration = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the uninterrupted run failed: {err[-2000:]}")
    reference = final_metrics(work / "reference")
    finished = reruns_over_one = from_scratch = traces = 0
    largest = {"accuracy": 0.0, "loss": 0.0}
    for trial in range(arguments.trials):
        folder = work / f"trial-{trial}"
        delay = rng.uniform(0.5, duration)
        code, out, err = run(folder, data, kill_after=delay)
        first_code, attempts, messages = code, 0, out + err
        # A kill that lands after the run was renamed into place leaves it finished.
        while code != 0 and not finished_runs(folder) and attempts < 3:
            code, out, err = run(folder, data)
            attempts += 1
            messages += out + err
        traces += "Traceback" in messages
        from_scratch += "from its first epoch" in messages
        reruns_over_one += attempts > 1
        if finished_runs(folder):
            finished += 1
            metrics = final_metrics(folder)
            for key in largest:
                largest[key] = max(largest[key], abs(metrics[key] - reference[key]))
        killed = "killed" if first_code == -9 else f"exited {first_code}"
        done = bool(finished_runs(folder))
        print(f"trial {trial + 1}: {killed} after {delay:.1f} s, finished={done}, reruns={attempts}", file=sys.stderr)
    print(f"\n{finished}/{arguments.trials} killed runs finished when the command ran again")
    print(f"needed more than one rerun: {reruns_over_one}; trained again from the first epoch: {from_scratch}")
    print(f"runs that printed a stack trace: {traces}")
    print(
        f"largest difference from the uninterrupted run: accuracy {largest['accuracy']:.4f}, loss {largest['loss']:.4f}"
    )
    print(f"(uninterrupted run: {duration:.1f} s, accuracy {reference['accuracy']:.4f}, loss {reference['loss']:.4f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    main(parser.parse_args())

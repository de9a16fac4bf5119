"""Random SIGKILL trials on a toy training run: does the same command always finish it,
wherever the kill lands?

    python -m bench.faults [--trials 50] [--seed 0]      (or: make bench-faults)

First an uninterrupted run of `main.py train sentiment` on toy reviews is timed, phase by
phase, from the files it writes: start-up (process, data, model; until its TensorBoard
folder appears), epochs (until history.csv holds every epoch), save (evaluation, metrics,
plots and model.keras) and export (the SavedModel, then the rename into place). Trial i
aims at phase i mod 4, so every phase is hit even though start-up takes most of a toy
run's time: the kill comes at a random moment in the first half of that phase (its
length in the reference run) after the run enters it, seen from its files, so a loaded
machine does not shift the aim. After the kill the files left say where it landed; then
the same command runs again until it finishes. Prints a table of phases (aimed, landed,
finished), reruns, restarts from the first epoch, stack traces, and the largest
difference of the final test accuracy and loss from the uninterrupted run's.
"""

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.toy_reviews import review_rows, write_csv

EPOCHS = 4
OPTIONS = [f"epochs={EPOCHS}", "units=8", "embedding_dim=8", "batch_size=16", "verbose=0", "patience=5"]
PHASES = ("start-up", "epoch", "save", "export")
ORDER = (*PHASES, "finished")


def run(folder: Path, data: Path, kill_after: float | None = None, watch=None) -> tuple[int, str, str]:
    """`main.py train` with runs in `folder`, killed after `kill_after` seconds (if given);
    `watch(started)` runs in a thread meanwhile. (exit status, stdout, stderr)."""
    environment = dict(os.environ, RNN_SUITE_RUNS=str(folder), TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "main.py", "train", "sentiment", f"dataset={data}", *OPTIONS]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if watch is not None:
        threading.Thread(target=watch, args=(process, started), daemon=True).start()
    try:
        out, err = process.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


def phase_reached(folder: Path) -> str:
    """The phase a run in `folder` is in (or was in when killed), from the files it has
    written; "finished" once the run was renamed into place."""
    if finished_runs(folder):
        return "finished"
    unfinished = sorted((folder / "sentiment" / ".incomplete").glob("*/"))
    if not unfinished or not (unfinished[-1] / "tensorboard").exists():
        return "start-up"
    run_path = unfinished[-1]
    history = run_path / "history.csv"
    rows = len(history.read_text().splitlines()) - 1 if history.exists() else 0
    if rows < EPOCHS:
        return "epoch"
    return "export" if (run_path / "model.keras").exists() else "save"


def timed_reference(folder: Path, data: Path) -> tuple[dict, float]:
    """Run once uninterrupted; ({phase: (start, end) seconds}, duration)."""
    began = {}

    def watch(process, started):
        while process.poll() is None:
            began.setdefault(phase_reached(folder), time.perf_counter() - started)
            time.sleep(0.02)

    started = time.perf_counter()
    code, _, err = run(folder, data, watch=watch)
    duration = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the uninterrupted run failed: {err[-2000:]}")
    # A phase too short for the 20 ms polling to see starts where the next one does.
    bounds = [began.get("finished", duration)]
    for phase in reversed(PHASES[1:]):
        bounds.insert(0, min(began.get(phase, bounds[0]), bounds[0]))
    bounds.insert(0, 0.0)
    return {phase: (bounds[i], bounds[i + 1]) for i, phase in enumerate(PHASES)}, duration


def finished_runs(folder: Path) -> list[Path]:
    root = folder / "sentiment"
    return [path for path in root.iterdir() if not path.name.startswith(".")] if root.exists() else []


def final_metrics(folder: Path) -> dict:
    [run_path] = finished_runs(folder)
    return json.loads((run_path / "metrics.json").read_text())


def trial(folder: Path, data: Path, aimed: str, delay: float) -> dict:
    """Kill a run `delay` seconds after it enters phase `aimed` (at once if it went past
    it), note where the kill landed, and rerun the same command until it finishes (at
    most 3 times). Waiting for the phase rather than for a fixed time keeps the aim on a
    machine whose speed varies with its load."""

    def kill_in_phase(process, started):
        while process.poll() is None and ORDER.index(phase_reached(folder)) < ORDER.index(aimed):
            time.sleep(0.02)
        time.sleep(delay)
        process.kill()

    code, out, err = run(folder, data, watch=kill_in_phase)
    landed, killed = phase_reached(folder), code == -9
    attempts, messages = 0, out + err
    while not finished_runs(folder) and attempts < 3:
        code, out, err = run(folder, data)
        attempts += 1
        messages += out + err
    done = bool(finished_runs(folder))
    if "Traceback" in messages:  # what went wrong, for whoever reads the report
        print(messages[messages.index("Traceback") :][-3000:], file=sys.stderr)
    return {
        "landed": landed if killed else "not killed (ran to the end)",
        "finished": done,
        "reruns": attempts,
        "trace": "Traceback" in messages,
        "from_scratch": "from its first epoch" in messages,
        "metrics": final_metrics(folder) if done else None,
    }


def main(arguments) -> None:
    rng = random.Random(arguments.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    data = write_csv(work / "reviews.csv", review_rows(400))
    windows, duration = timed_reference(work / "reference", data)
    reference = final_metrics(work / "reference")
    print("phases of the uninterrupted run: " + ", ".join(f"{p} {a:.1f}-{b:.1f} s" for p, (a, b) in windows.items()))
    table = collections.defaultdict(collections.Counter)
    results = []
    for index in range(arguments.trials):
        aimed = PHASES[index % len(PHASES)]
        start, end = windows[aimed]
        # A random moment in the first half of the phase as long as the reference's: save and
        # export last a second or two, and a run under load may get through them faster.
        delay = rng.uniform(0, (end - start) / 2)
        result = trial(work / f"trial-{index}", data, aimed, delay)
        results.append(result)
        table[aimed]["aimed"] += 1
        table[result["landed"]]["landed"] += 1
        table[result["landed"]]["finished"] += result["finished"]
        print(
            f"trial {index + 1}: aimed at {aimed} (+{delay:.1f} s), killed in {result['landed']}, "
            f"finished={result['finished']}, reruns={result['reruns']}",
            file=sys.stderr,
        )
    report(results, table, reference, duration, arguments.trials)


def report(results, table, reference, duration, trials) -> None:
    """The phase table and the summary lines."""
    print("\n| phase | kills aimed | kills landed | finished after the rerun |\n|---|---|---|---|")
    for phase in [*PHASES, *sorted(set(table) - set(PHASES))]:
        row = table[phase]
        print(f"| {phase} | {row['aimed']} | {row['landed']} | {row['finished']}/{row['landed']} |")
    finished = sum(result["finished"] for result in results)
    largest = {
        key: max([abs(r["metrics"][key] - reference[key]) for r in results if r["metrics"]], default=0.0)
        for key in ("accuracy", "loss")
    }
    print(f"\n{finished}/{trials} killed runs finished when the command ran again")
    print(
        f"needed more than one rerun: {sum(r['reruns'] > 1 for r in results)}; "
        f"trained again from the first epoch: {sum(r['from_scratch'] for r in results)}"
    )
    print(f"runs that printed a stack trace: {sum(r['trace'] for r in results)}")
    print(
        f"largest difference from the uninterrupted run: accuracy {largest['accuracy']:.4f}, loss {largest['loss']:.4f}"
    )
    print(f"(uninterrupted run: {duration:.1f} s, accuracy {reference['accuracy']:.4f}, loss {reference['loss']:.4f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    main(parser.parse_args())

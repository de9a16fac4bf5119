"""What TensorFlow op determinism costs, task by task: each task's default config trained
with `deterministic=true` (the trainer's default) and `deterministic=false`.

    python -m bench.determinism [tasks=sentiment,tagging] [repeats=2]      (or: make bench-determinism)

Every run is a fresh `main.py train <task> <budget> deterministic=...` subprocess with its
own temporary runs folder (nothing is shared or reused between runs), run in the order
on, off, on, off, ... so a change in the machine's load hits both settings alike. A run is
stopped (SIGKILL, its folder deleted) as soon as its history.csv holds every epoch of the
budget: the test scores, plots and export that follow are the same work either way and
are not what is measured.

Time: the `epoch_seconds` column the trainer's EpochTimer writes for every epoch (the
training steps and the epoch's validation pass). The first epoch is left out (it traces
the graphs); the table gives the median of the later epochs of all the runs of a setting,
and on/off, the ratio of the two medians (above 1: determinism is slower).

Same result twice: the "on" runs' histories (every column but the epoch times: training
and validation loss and metrics, epoch by epoch) must be equal, exactly; that is the point
of op determinism. The "off" runs are compared the same way, to show whether this machine
needed it. With repeats=1 there is nothing to compare ("n/a").

Budgets, chosen so that the default bench (five tasks, repeats=2: 20 runs of which about
15 s each is start-up) takes about 15 minutes on 2 idle cores (estimated from the
README's epoch times; on cores shared with other training, twice that). Each keeps the
task's default model, batch and data and only shortens the run, so the per-step work is
the default's:

- sentiment: epochs=3 (MR: ~270 batches of 32 reviews an epoch, 10-20 s; 2 timed epochs a run)
- timeseries: epochs=5 (sunspots: epochs of a second or two, so more of them: 4 timed)
- tagging: epochs=2 (wnut16: ~150 batches of 16 tweets; characters, GloVe, CRF)
- generation: epochs=2 batching=random steps_per_epoch=60. The default reads the whole
  of Shakespeare each epoch (sequential TBPTT, ~730 batches, 2-3 minutes), too long to
  repeat 4 times; random windows run the same 64 x 100-character LSTM steps, 60 an epoch
  (the validation pass, inside the epoch's time, is the default's whole play).
- translation: epochs=2 (bible_en_es: ~200 batches of 32 verse pairs, 20-40 s an epoch)

Every run adds verbose=0 and patience=10 (no early stop inside the budget).
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

import numpy as np
import pandas

from common import reports

TASKS = ("sentiment", "timeseries", "tagging", "generation", "translation")
BUDGETS = {
    "sentiment": ["epochs=3"],
    "timeseries": ["epochs=5"],
    "tagging": ["epochs=2"],
    "generation": ["epochs=2", "batching=random", "steps_per_epoch=60"],
    "translation": ["epochs=2"],
}
COMMON = ["verbose=0", "patience=10"]
TIME_COLUMN = "epoch_seconds"
ROOT = Path(__file__).resolve().parent.parent


def epochs_of(options: list[str]) -> int:
    return int(next(option.split("=", 1)[1] for option in options if option.startswith("epochs=")))


def whole_rows(path: Path) -> int:
    """Rows of a CSV history written in full (header and a torn last line not counted)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return 0
    return max(text.count("\n") - 1, 0)


def read_history(path: Path) -> pandas.DataFrame:
    """The whole rows of a history, one per epoch."""
    text = path.read_text(encoding="utf-8")
    whole = text[: text.rfind("\n") + 1]
    history = pandas.read_csv(StringIO(whole))
    return history.drop_duplicates(subset="epoch", keep="last").reset_index(drop=True)


def train_once(task: str, options: list[str], deterministic: bool) -> pandas.DataFrame:
    """One `main.py train` in a fresh runs folder, stopped once its history holds every
    epoch of the budget; its history. A run that fails first is an error with its output."""
    epochs = epochs_of(options)
    command = [sys.executable, "main.py", "train", task, *options, f"deterministic={str(deterministic).lower()}"]
    with tempfile.TemporaryDirectory(prefix="determinism-") as folder:
        environment = dict(os.environ, RNN_SUITE_RUNS=str(Path(folder) / "runs"), TF_CPP_MIN_LOG_LEVEL="3")
        log = Path(folder) / "output.log"
        with log.open("w") as output:
            process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT)
            history_path = None
            try:
                while True:
                    if history_path is None:
                        history_path = next((Path(folder) / "runs").rglob("history.csv"), None)
                    if history_path is not None and whole_rows(history_path) >= epochs:
                        break
                    if process.poll() is not None:
                        break
                    time.sleep(0.2)
            finally:
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                process.wait()
        if history_path is None or whole_rows(history_path) < epochs:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command[1:])} ended before {epochs} epochs:\n{tail}")
        return read_history(history_path)


def steady_seconds(histories: list[pandas.DataFrame]) -> list[float]:
    """Epoch times after each run's first epoch (the one that traces)."""
    return [float(value) for history in histories for value in history[TIME_COLUMN].iloc[1:]]


def results(history: pandas.DataFrame) -> pandas.DataFrame:
    """A history without its timing: what training computed, epoch by epoch."""
    return history.drop(columns=[name for name in history.columns if "seconds" in name])


def same_result(histories: list[pandas.DataFrame]) -> str:
    """ "yes" if every history computed exactly the same figures, "no" if not, "n/a" for one."""
    if len(histories) < 2:
        return "n/a"
    first = results(histories[0])
    for other in map(results, histories[1:]):
        if list(first.columns) != list(other.columns) or first.shape != other.shape:
            return "no"
        if not all(np.array_equal(first[name].to_numpy(), other[name].to_numpy(), equal_nan=True) for name in first):
            return "no"
    return "yes"


def largest_difference(histories: list[pandas.DataFrame], column: str = "val_loss") -> float:
    """The largest difference between runs of `column` at the same epoch (NaN for one run)."""
    if len(histories) < 2 or column not in histories[0]:
        return float("nan")
    values = np.array([history[column].to_numpy(dtype=float) for history in histories])
    return float(np.max(values.max(axis=0) - values.min(axis=0)))


def table_row(task: str, on: list[pandas.DataFrame], off: list[pandas.DataFrame]) -> dict:
    """The figures of one task's line, from the histories of its on and off runs."""
    seconds_on, seconds_off = float(np.median(steady_seconds(on))), float(np.median(steady_seconds(off)))
    return {
        "task": task,
        "budget": " ".join(BUDGETS.get(task, [])),
        "on": seconds_on,
        "off": seconds_off,
        "ratio": seconds_on / seconds_off,
        "repeats": min(len(on), len(off)),
        "epochs timed": len(steady_seconds(on)),
        "same on": same_result(on),
        "same off": same_result(off),
        "off val_loss spread": largest_difference(off),
    }


def format_table(rows: list[dict]) -> str:
    header = ["task", "budget", "s/epoch on", "s/epoch off", "on/off", "repeats", "epochs timed (each)"]
    header += ["same result twice (on)", "same result twice (off)", "off: val_loss spread"]
    lines = []
    for row in rows:
        spread = "n/a" if np.isnan(row["off val_loss spread"]) else f"{row['off val_loss spread']:.2g}"
        cells = [row["task"], str(row["budget"]), f"{row['on']:.2f}", f"{row['off']:.2f}", f"{row['ratio']:.3f}"]
        cells += [str(row[key]) for key in ("repeats", "epochs timed", "same on", "same off")]
        lines.append(cells + [spread])
    return reports.markdown_table(header, lines)


def parse(arguments: list[str]) -> tuple[list[str], int]:
    """tasks= (comma-separated) and repeats= from key=value arguments."""
    chosen = {"tasks": ",".join(TASKS), "repeats": "2"}
    for argument in arguments:
        name, _, value = argument.partition("=")
        if name not in chosen or not value:
            raise SystemExit(f"unknown argument {argument!r}: use tasks=a,b (of {', '.join(TASKS)}) and repeats=N")
        chosen[name] = value
    tasks = [name.strip() for name in chosen["tasks"].split(",") if name.strip()]
    unknown = [name for name in tasks if name not in TASKS]
    if unknown or not chosen["repeats"].isdigit() or int(chosen["repeats"]) < 1:
        raise SystemExit(f"tasks= takes {', '.join(TASKS)}; repeats= a whole number of at least 1")
    return tasks, int(chosen["repeats"])


def main(arguments: list[str]) -> None:
    tasks, repeats = parse(arguments)
    command = " ".join(["python -m bench.determinism", *arguments])
    started = time.perf_counter()
    rows = []
    for task in tasks:
        options = [*BUDGETS[task], *COMMON]
        histories = {True: [], False: []}
        for repeat in range(repeats):
            for deterministic in (True, False):  # interleaved: on, off, on, off, ...
                began = time.perf_counter()
                history = train_once(task, options, deterministic)
                histories[deterministic].append(history)
                times = ", ".join(f"{value:.2f}" for value in history[TIME_COLUMN])
                print(
                    f"{task} deterministic={str(deterministic).lower()} #{repeat + 1}: epochs {times} s; "
                    f"run {time.perf_counter() - began:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
        rows.append(table_row(task, histories[True], histories[False]))
    print(format_table(rows))
    print(
        f"\n{command}: median seconds per epoch after the first (training and validation), runs interleaved "
        f"on/off, each a fresh process; {time.perf_counter() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

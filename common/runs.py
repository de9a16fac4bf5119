"""Run folders: `runs/<task>/<run-id>/`, written in a temporary place, renamed when done.

A run in progress lives in `runs/<task>/.incomplete/<run-id>/`. Its id ends with a
hash of the resolved config, so running the same command again after a crash finds
it and resumes from the last finished epoch. A finished run is renamed into place
in one step, so `runs/<task>/` never holds a half-written run.
"""

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
from pathlib import Path

from common.errors import UserError
from common.files import LockHeld, acquire_lock, directory_lock
from common.sources import PROJECT_ROOT

RUNS_VARIABLE = "RNN_SUITE_RUNS"
# Options that change how a run reports, not what it computes: resuming ignores them.
NOT_HASHED = ("verbose", "run_name", "epochs", "wait")
LOCK_FILE = ".lock"  # in a run being written: held by the one process writing it


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_VARIABLE) or PROJECT_ROOT / "runs")


def config_hash(config) -> str:
    values = {key: value for key, value in dataclasses.asdict(config).items() if key not in NOT_HASHED}
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:8]


@dataclasses.dataclass
class Run:
    """A run being written: files go to `path`; `finish` moves it to `final_path`."""

    task: str
    run_id: str
    path: Path
    final_path: Path
    resumed: bool
    lock: object = None  # the open lock file; closing it (or dying) releases the run

    def finish(self) -> Path:
        (self.path / LOCK_FILE).unlink(missing_ok=True)
        os.replace(self.path, self.final_path)
        self.release()
        return self.final_path

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    def release(self) -> None:
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    @contextlib.contextmanager
    def discarded_on_user_error(self):
        """Bad input found mid-run removes the run; any other failure keeps it for resuming."""
        try:
            yield
        except UserError:
            self.discard()
            raise


def start_run(task: str, config) -> Run:
    """Open a new run folder, or the unfinished one with the same config (resume).

    One process writes a run: the run's lock is held until it finishes or the process
    ends. A second identical command stops with a message naming the process that holds
    it, or with `wait=true` waits for it and then resumes or starts afresh.
    """
    incomplete = runs_root() / task / ".incomplete"
    while True:
        with directory_lock(incomplete):  # one process chooses at a time
            path, resumed = choose_run_folder(task, config, incomplete)
            try:
                lock = acquire_lock(path / LOCK_FILE, wait=False)
                return Run(task, path.name, path, runs_root() / task / path.name, resumed, lock)
            except LockHeld as held:
                holder = held.pid
                if not getattr(config, "wait", False):
                    raise UserError(
                        f"run {path.name} is being trained by process {holder}; let it finish, "
                        f'or run the same command with ARGS="wait=true" to wait for it'
                    ) from None
        print(f"waiting for process {holder}, which is training run {path.name}")
        acquire_lock(path / LOCK_FILE, wait=True).close()  # then choose again: resume or start


def choose_run_folder(task: str, config, incomplete: Path) -> tuple[Path, bool]:
    """(folder, resumed): the unfinished run with this config, or a new folder."""
    suffix = config_hash(config)
    if config.run_name:
        run_id = config.run_name
        if (runs_root() / task / run_id).exists():
            raise UserError(f"run {run_id!r} already exists in {runs_root() / task}; choose another run_name")
        candidates = [incomplete / run_id] if (incomplete / run_id).exists() else []
    else:
        run_id = ""
        candidates = sorted(path for path in incomplete.glob(f"*-{suffix}") if path.is_dir())
    if candidates:
        return candidates[-1], True
    if not run_id:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        cell = getattr(config, "cell", "model")
        run_id = f"{stamp}-{cell}-{suffix}"
    path = incomplete / run_id
    path.mkdir(parents=True)
    return path, False


def write_report(task: str, kind: str, text: str) -> Path:
    """Save a Markdown table (a comparison, a benchmark) as runs/<task>/<kind>-<time>.md."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = runs_root() / task / f"{kind}-{stamp}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def find_run(task: str, run_id: str = "") -> Path:
    """A finished run by id, or the most recent one."""
    root = runs_root() / task
    if run_id:
        path = Path(run_id) if Path(run_id).is_dir() else root / run_id
        if not path.is_dir():
            raise UserError(f"no finished run {run_id!r} in {root}")
        return path
    finished = sorted(
        (path for path in root.glob("*") if path.is_dir() and not path.name.startswith(".")),
        key=lambda path: path.stat().st_mtime,
    )
    if not finished:
        raise UserError(f"no finished {task} run in {root}; train one first: make train TASK={task}")
    return finished[-1]

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
from common.sources import PROJECT_ROOT

RUNS_VARIABLE = "RNN_SUITE_RUNS"
# Options that change how a run reports, not what it computes: resuming ignores them.
NOT_HASHED = ("verbose", "run_name", "epochs")


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

    def finish(self) -> Path:
        os.replace(self.path, self.final_path)
        return self.final_path

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @contextlib.contextmanager
    def discarded_on_user_error(self):
        """Bad input found mid-run removes the run; any other failure keeps it for resuming."""
        try:
            yield
        except UserError:
            self.discard()
            raise


def start_run(task: str, config) -> Run:
    """Open a new run folder, or the unfinished one with the same config (resume)."""
    incomplete = runs_root() / task / ".incomplete"
    suffix = config_hash(config)
    if config.run_name:
        run_id = config.run_name
        if (runs_root() / task / run_id).exists():
            raise UserError(f"run {run_id!r} already exists in {runs_root() / task}; choose another run_name")
        candidates = [incomplete / run_id] if (incomplete / run_id).exists() else []
    else:
        run_id = ""
        candidates = sorted(incomplete.glob(f"*-{suffix}")) if incomplete.exists() else []
    if candidates:
        path = candidates[-1]
        return Run(task, path.name, path, runs_root() / task / path.name, resumed=True)
    if not run_id:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        cell = getattr(config, "cell", "model")
        run_id = f"{stamp}-{cell}-{suffix}"
    path = incomplete / run_id
    path.mkdir(parents=True)
    return Run(task, run_id, path, runs_root() / task / run_id, resumed=False)


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

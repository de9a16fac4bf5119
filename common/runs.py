"""Run folders: `runs/<task>/<run-id>/`, written in a temporary place, renamed when done.

A run in progress lives in `runs/<task>/.incomplete/<run-id>/`. Its id ends with a
hash of its identity (`run_identity`: every option that changes the result, a
fingerprint of each input file's content and the number of workers), so running the
same command again after a crash finds it and resumes from the last finished epoch,
and a command that would train something else never takes it over. A finished run is renamed into place
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
from common.files import LockHeld, acquire_lock, directory_lock, sha256_of, write_text_atomically
from common.sources import PROJECT_ROOT

RUNS_VARIABLE = "RNN_SUITE_RUNS"
# Options that change how a run reports or how long a command waits, not what it
# computes: resuming ignores them. Everything else (epochs and patience too) is hashed.
NOT_HASHED = ("verbose", "run_name", "wait", "startup_timeout")
LOCK_FILE = ".lock"  # in a run being written: held by the one process writing it
IDENTITY_FILE = "identity.json"  # what the run computes; a resume checks it against the command


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_VARIABLE) or PROJECT_ROOT / "runs")


def run_identity(config, workers: int = 1) -> dict:
    """Everything that changes what a run computes: every option but the reporting ones,
    a fingerprint of the content of each input file an option names (data edited after a
    crash is another run), and the number of workers (several workers split each batch
    and sum their gradients in another order than one process does)."""
    defaults = added_option_defaults(config)
    values = {
        key: value
        for key, value in dataclasses.asdict(config).items()
        if key not in NOT_HASHED and not (key in defaults and value == defaults[key])
    }
    values["input_files"] = {name: sha256_of(path)[:16] for name, path in input_files(config).items()}
    values["workers"] = workers
    return values


def added_option_defaults(config) -> dict:
    """{option: default} for the options a config class added after runs existed
    (`ADDED_OPTIONS`, a ClassVar tuple of names). At its default such an option computes
    exactly what runs made before it did, so it is left out of the identity there: older
    runs keep their id, resume and are found by `make compare`. Any other value is hashed."""
    fields = {field.name: field.default for field in dataclasses.fields(config)}
    return {name: fields[name] for name in getattr(type(config), "ADDED_OPTIONS", ())}


def input_files(config) -> dict[str, Path]:
    """{option: file} for every text option that names an existing file (dataset,
    test_file, validation_file, embeddings, ...); built-in dataset names are not files."""
    named = {}
    for key, value in dataclasses.asdict(config).items():
        if isinstance(value, str) and value and Path(value).expanduser().is_file():
            named[key] = Path(value).expanduser()
    return named


def config_hash(config, workers: int = 1) -> str:
    """The short hash of `run_identity` that ends a run's id."""
    identity = run_identity(config, workers)
    return hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]


@dataclasses.dataclass
class Run:
    """A run being written: files go to `path`; `finish` moves it to `final_path`."""

    task: str
    run_id: str
    path: Path
    final_path: Path
    resumed: bool
    lock: object = None  # the open lock file; closing it (or dying) releases the run
    reused: bool = False  # finished by the process this command waited for: nothing to train

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


def start_run(task: str, config, workers: int = 1) -> Run:
    """Open a new run folder, or the unfinished one with the same identity (resume).

    One process writes a run: the run's lock is held until it finishes or the process
    ends. A second identical command stops with a message naming the process that holds
    it, or with `wait=true` waits for it: then it reuses the run that process finished
    (`Run.reused`), or resumes the run when that process died before finishing it.
    """
    incomplete = runs_root() / task / ".incomplete"
    identity = run_identity(config, workers)
    waited_for = None
    while True:
        with directory_lock(incomplete):  # one process chooses at a time
            if waited_for is not None:
                finished = finished_while_waiting(task, waited_for, identity)
                if finished is not None:
                    return Run(task, finished.name, finished, finished, resumed=False, reused=True)
            path, resumed = choose_run_folder(task, config, incomplete, identity)
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
        print(f"waiting for process {holder}, which is training run {path.name}", flush=True)
        acquire_lock(path / LOCK_FILE, wait=True).close()  # then choose again: reuse, resume or start
        waited_for = path


def finished_while_waiting(task: str, waited_for: Path, identity: dict) -> Path | None:
    """The finished run the process we waited for renamed into place, if it is this run."""
    final = runs_root() / task / waited_for.name
    if waited_for.exists() or not final.is_dir():
        return None  # not finished: that process died, and this one resumes the run
    return final if read_identity(final) == identity else None


def choose_run_folder(task: str, config, incomplete: Path, identity: dict) -> tuple[Path, bool]:
    """(folder, resumed): the unfinished run with this identity, or a new folder."""
    suffix = config_hash(config, identity["workers"])
    if config.run_name:
        run_id = config.run_name
        if (runs_root() / task / run_id).exists():
            raise UserError(f"run {run_id!r} already exists in {runs_root() / task}; choose another run_name")
        candidates = [incomplete / run_id] if (incomplete / run_id).exists() else []
    else:
        run_id = ""
        candidates = sorted(path for path in incomplete.glob(f"*-{suffix}") if path.is_dir())
    if candidates and matches(candidates[-1], identity):
        return candidates[-1], True
    if not run_id:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        cell = getattr(config, "cell", "model")
        run_id = f"{stamp}-{cell}-{suffix}"
    path = incomplete / run_id
    path.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path / IDENTITY_FILE, json.dumps(identity, indent=2, sort_keys=True))
    return path, False


def matches(path: Path, identity: dict) -> bool:
    """Whether the unfinished run at `path` computes what this command asks for. Another
    identity is a one-line error; an unreadable one (a crash as the run began, before
    anything was trained that could be kept) empties the folder to start again."""
    saved = read_identity(path)
    if saved is None:
        print(f"{path.name}: {IDENTITY_FILE} is unreadable, so what it trained is unknown; starting the run again")
        shutil.rmtree(path)
        return False
    if saved != identity:
        raise UserError(
            f"run {path.name!r} was started with other options: {describe_difference(saved, identity)}; "
            f"run the same command as it, choose another run_name, or remove {path}"
        )
    return True


def read_identity(path: Path) -> dict | None:
    """A run's saved identity, or None where it is missing or unreadable."""
    try:
        identity = json.loads((path / IDENTITY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return identity if isinstance(identity, dict) else None


def describe_difference(saved: dict, wanted: dict) -> str:
    """`epochs=6 (now 4), the content of dataset`: what differs, briefly."""
    parts = []
    for key in sorted(set(saved) | set(wanted)):
        if key == "input_files":
            files = saved.get(key, {}), wanted.get(key, {})
            parts += [
                f"the content of {name}"
                for name in sorted(set(files[0]) | set(files[1]))
                if files[0].get(name) != files[1].get(name)
            ]
        elif saved.get(key) != wanted.get(key):
            parts.append(f"{key}={saved.get(key)} (now {wanted.get(key)})")
    return ", ".join(parts)


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
